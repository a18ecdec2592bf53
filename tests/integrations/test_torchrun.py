"""A real ``torchrun --nproc-per-node 2`` job (gloo, CPU) recording with ``ranks="zero"`` and
``ranks="all"``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from integration_helpers import framework, points

import picidae

framework("torch", "lightning")

SCRIPT = """
import sys
import torch
import torch.distributed as dist
import picidae

mode, fail_rank = sys.argv[1], int(sys.argv[2])
dist.init_process_group("gloo")
rank = dist.get_rank()
with picidae.init("ddp/job", ranks=mode, config={"lr": 0.1}) as run:
    assert run.rank == rank, (run.rank, rank)
    total = torch.tensor([float(rank + 1)])
    for step in range(3):
        dist.all_reduce(total)
        run.log(value=float(rank * 100 + step), total=float(total.item()))
    if rank == fail_rank:
        raise ValueError(f"rank {rank} diverged")
if fail_rank < 0:
    dist.barrier()
dist.destroy_process_group()
"""


def _torchrun(tmp_path: Path, env: dict[str, str], mode: str, fail_rank: int = -1) -> Any:
    import subprocess

    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    return subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node",
         "2", str(script), mode, str(fail_rank)],
        env={**env, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=240,
        cwd=tmp_path, check=False)


def test_ranks_zero_records_one_run_with_rank_zeros_points(
        tmp_path: Path, subprocess_env: dict[str, str]) -> None:
    proc = _torchrun(tmp_path, subprocess_env, "zero")
    assert proc.returncode == 0, proc.stderr[-3000:]

    [run] = picidae.runs()
    assert run.name == "ddp/job" and run.status == "completed"
    assert points(run, "value") == [(0, 0.0), (1, 1.0), (2, 2.0)]
    assert points(run, "total") == [(0, 3.0), (1, 6.0), (2, 12.0)]


def test_ranks_all_records_a_parent_with_one_rank_child_per_process(
        tmp_path: Path, subprocess_env: dict[str, str]) -> None:
    proc = _torchrun(tmp_path, subprocess_env, "all")
    assert proc.returncode == 0, proc.stderr[-3000:]

    [parent] = picidae.runs(name="ddp/job")
    assert parent.status == "completed" and parent.metric_keys() == []
    assert parent.compute["world_size"] == 2
    children = {c.name: c for c in parent.children()}
    assert sorted(children) == ["ddp/job/rank-0", "ddp/job/rank-1"]
    for rank in (0, 1):
        child = children[f"ddp/job/rank-{rank}"]
        assert child.kind == "rank" and child.status == "completed"
        assert child.config == {"lr": 0.1}
        assert points(child, "value") == [(s, float(rank * 100 + s)) for s in range(3)]
        assert parent.ended_at >= child.ended_at  # the parent ended after both ranks


def test_a_rank_that_raises_fails_the_parent_naming_the_rank(
        tmp_path: Path, subprocess_env: dict[str, str]) -> None:
    proc = _torchrun(tmp_path, subprocess_env, "all", fail_rank=1)
    assert proc.returncode != 0

    [parent] = picidae.runs(name="ddp/job")
    assert parent.status == "failed"
    assert parent.failure["message"] == "rank 1 failed: ValueError: rank 1 diverged"
    [failed] = [c for c in parent.children() if c.name == "ddp/job/rank-1"]
    assert failed.status == "failed" and failed.failure["reason"] == "crash"


def test_ranks_all_with_a_queued_run_records_each_rank_under_it(
        tmp_path: Path, subprocess_env: dict[str, str]) -> None:
    queued = picidae.submit("torchrun train.py", name="ddp/queued")
    proc = _torchrun(tmp_path, {**subprocess_env, "PICIDAE_RUN_ID": queued.id}, "all")
    assert proc.returncode == 0, proc.stderr[-3000:]

    job = picidae.get_run(queued.id)
    assert job.status == "completed"
    assert sorted(c.name for c in job.children()) == ["ddp/queued/rank-0",
                                                      "ddp/queued/rank-1"]
    assert picidae.runs(name="ddp/job") == []  # no second job run


@pytest.mark.parametrize("bad", ["first", "", None])
def test_ranks_must_be_zero_or_all(bad: Any) -> None:
    with pytest.raises(picidae.InvalidInput, match="ranks"):
        picidae.init("x", ranks=bad)


def test_other_ranks_get_a_noop_run_that_knows_its_rank(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RANK", "3")
    run = picidae.init("ddp/quiet")
    assert isinstance(run, picidae.NoopRun) and run.rank == 3
    run.log(loss=1.0).finish()
    assert picidae.runs() == []
