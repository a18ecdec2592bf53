"""``picidae import --from wandb|tensorboard``: run folders the real ``wandb`` client writes
offline and event files ``torch.utils.tensorboard`` writes, imported with every scalar at its
step; importing twice adds nothing; a damaged run is reported and skipped, the rest imported."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import picidae

WANDB_SCRIPT = '''
import sys
import wandb
group, name, code = sys.argv[1], sys.argv[2], int(sys.argv[3])
run = wandb.init(project="imgs", name=name, group=group or None, job_type="train",
                 config={"lr": 0.1, "net": {"depth": 3}}, tags=["t1"], notes="a note")
for i in range(6):
    wandb.log({"loss": 1.0 / (i + 1), "acc": i / 10})
wandb.log({"val": 0.5}, step=20)
run.summary["best"] = 42
with open("weights.bin", "wb") as f:
    f.write(b"w" * 10)
wandb.save("weights.bin", policy="now")
print("hello from " + name)
wandb.finish(exit_code=code)
'''

TB_SCRIPT = '''
import sys
from torch.utils.tensorboard import SummaryWriter
w = SummaryWriter(sys.argv[1] + "/exp1")
for i in range(5):
    w.add_scalar("loss", 1.0 / (i + 1), i * 10)
    w.add_scalars("acc", {"train": i / 10, "val": i / 20}, i * 10)
w.add_hparams({"lr": 0.1, "opt": "adam"}, {"hparam/score": 0.9})
w.close()
w = SummaryWriter(sys.argv[1] + "/exp2")
w.add_scalar("loss", 3.0, 7)
w.close()
'''


def _import(kind: str, source: Path, store: Path, env: dict[str, str],
            ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "picidae", "import", "--from", kind,
                           str(source), "--store", str(store)], env=env, capture_output=True,
                          text=True, timeout=120, check=False)


@pytest.fixture
def wandb_folder(tmp_path: Path, subprocess_env: dict[str, str], write_script: Any) -> Path:
    pytest.importorskip("wandb")
    work = tmp_path / "work"
    work.mkdir()
    script = write_script(WANDB_SCRIPT)
    env = {**subprocess_env, "WANDB_MODE": "offline", "WANDB_SILENT": "true",
           "WANDB_DIR": str(work)}
    for args in (("grp", "first", "0"), ("grp", "second", "1"), ("", "solo", "0")):
        done = subprocess.run([sys.executable, str(script), *args], env=env, cwd=work,
                              capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr
    return work / "wandb"


def test_wandb_offline_runs_import_once(wandb_folder: Path, store_dir: Path,
                                        subprocess_env: dict[str, str]) -> None:
    assert (wandb_folder / "latest-run").exists()  # a link to the last run: not read twice
    done = _import("wandb", wandb_folder, store_dir, subprocess_env)
    assert done.returncode == 0, done.stderr
    # 3 runs and the group's parent; 6 points of 2 keys + 1 point each; weights.bin and
    # requirements.txt each
    assert "Imported 4 runs from W&B: 39 points, 6 files." in done.stdout, done.stdout
    runs = {r.name: r for r in picidae.runs(store=str(store_dir))}
    assert set(runs) == {"imgs/grp", "imgs/grp/first", "imgs/grp/second", "imgs/solo"}
    first, second, solo = runs["imgs/grp/first"], runs["imgs/grp/second"], runs["imgs/solo"]
    assert first.parent_id == second.parent_id == runs["imgs/grp"].id
    assert runs["imgs/grp"].kind == "group" and solo.parent_id is None
    assert first.status == "completed" and second.status == "failed"
    assert second.failure["exit_code"] == 1
    assert first.kind == "train" and first.notes == "a note"
    assert first.config == {"lr": 0.1, "net": {"depth": 3}}
    assert {"t1", "wandb", "wandb.project=imgs"} <= set(first.tags)
    assert [(p.step, p.value) for p in first.metrics("loss")] == [
        (i, 1.0 / (i + 1)) for i in range(6)]
    assert [(p.step, p.value) for p in first.metrics("val")] == [(20, 0.5)]
    assert first.summary["best"] == 42 and first.summary["loss"] == pytest.approx(1 / 6)
    assert "hello from first" in first.logs()
    assert "weights.bin" in {a.name for a in first.artifacts()}

    again = _import("wandb", wandb_folder, store_dir, subprocess_env)
    assert again.returncode == 0, again.stderr
    assert "Imported 0 runs" in again.stdout and "3 were there already" in again.stdout
    assert len(picidae.runs(store=str(store_dir))) == 4


def test_a_wandb_log_spanning_many_blocks_reads_whole(tmp_path: Path, store_dir: Path,
                                                      write_script: Any,
                                                      subprocess_env: dict[str, str]) -> None:
    """A 70 KB config record spans three 32 KiB blocks; 3,000 history rows fill ~30."""
    pytest.importorskip("wandb")
    script = write_script('''
import wandb
wandb.init(project="big", name="long", config={"blob": "x" * 70000})
for i in range(3000):
    wandb.log({"loss": 1.0 / (i + 1)})
wandb.finish()
''')
    env = {**subprocess_env, "WANDB_MODE": "offline", "WANDB_SILENT": "true",
           "WANDB_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, str(script)], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stderr
    done = _import("wandb", tmp_path / "wandb", store_dir, subprocess_env)
    assert "Imported 1 runs from W&B: 3000 points" in done.stdout, done.stdout + done.stderr
    (run,) = picidae.runs(store=str(store_dir))
    assert run.config["blob"] == "x" * 70000
    assert [p.step for p in run.metrics("loss")] == list(range(3000))


def test_a_damaged_wandb_run_is_reported_and_skipped(wandb_folder: Path, store_dir: Path,
                                                     subprocess_env: dict[str, str]) -> None:
    folders = sorted(p for p in wandb_folder.iterdir() if p.name.startswith("offline-run-"))
    log = next(folders[0].glob("run-*.wandb"))
    data = bytearray(log.read_bytes())
    data[100] ^= 0xFF  # one flipped byte: the record's CRC no longer matches
    log.write_bytes(bytes(data))
    done = _import("wandb", wandb_folder, store_dir, subprocess_env)
    assert done.returncode == 0, done.stderr
    assert f"skipped {folders[0].name}" in done.stderr and "damaged record" in done.stderr
    names = {r.name for r in picidae.runs(store=str(store_dir))}
    assert "imgs/grp/first" not in names and "imgs/solo" in names


def test_tensorboard_logs_import_once(tmp_path: Path, store_dir: Path, write_script: Any,
                                      subprocess_env: dict[str, str]) -> None:
    pytest.importorskip("tensorboard")
    logs = tmp_path / "runs"
    done = subprocess.run([sys.executable, str(write_script(TB_SCRIPT)), str(logs)],
                          env=subprocess_env, capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr
    broken = logs / "broken"
    broken.mkdir()
    (broken / "events.out.tfevents.1.host.1.0").write_bytes(os.urandom(64))

    done = _import("tensorboard", logs, store_dir, subprocess_env)
    assert done.returncode == 0, done.stderr
    assert "Imported 2 runs from TensorBoard: 17 points, 0 files." in done.stdout, done.stdout
    assert "skipped broken: " in done.stderr
    runs = {r.name: r for r in picidae.runs(store=str(store_dir))}
    assert set(runs) == {"runs/exp1", "runs/exp2"}
    exp1 = runs["runs/exp1"]
    assert exp1.config == {"lr": 0.1, "opt": "adam"} and exp1.status == "completed"
    assert [(p.step, p.value) for p in exp1.metrics("loss")] == [
        (i * 10, pytest.approx(1.0 / (i + 1))) for i in range(5)]
    assert [p.step for p in exp1.metrics("acc/train")] == [0, 10, 20, 30, 40]
    assert [p.value for p in exp1.metrics("acc/val")] == pytest.approx([i / 20 for i in range(5)])
    assert [p.value for p in exp1.metrics("hparam/score")] == pytest.approx([0.9])
    assert [(p.step, p.value) for p in runs["runs/exp2"].metrics("loss")] == [(7, 3.0)]

    again = _import("tensorboard", logs, store_dir, subprocess_env)
    assert "Imported 0 runs" in again.stdout and "2 were there already" in again.stdout
    assert len(picidae.runs(store=str(store_dir))) == 2


def test_import_json_names_the_problems(tmp_path: Path, store_dir: Path,
                                        subprocess_env: dict[str, str]) -> None:
    pytest.importorskip("tensorboard")
    (tmp_path / "logs" / "x").mkdir(parents=True)
    (tmp_path / "logs" / "x" / "events.out.tfevents.1.h.1.0").write_bytes(b"\x01" * 30)
    done = subprocess.run([sys.executable, "-m", "picidae", "import", "--from", "tensorboard",
                           str(tmp_path / "logs"), "--store", str(store_dir), "--json"],
                          env=subprocess_env, capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["imported"] == [] and len(out["problems"]) == 1


def test_import_from_an_unknown_kind_is_refused(tmp_path: Path, store_dir: Path,
                                                subprocess_env: dict[str, str]) -> None:
    done = _import("neptune", tmp_path, store_dir, subprocess_env)
    assert done.returncode != 0 and "--from must be" in done.stderr
    assert "Traceback" not in done.stderr
