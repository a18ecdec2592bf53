"""``--executor slurm`` on a real one-node Slurm cluster (``slurm_cluster.py``)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import picidae

from .conftest import Cli, wait_for
from .slurm_cluster import SlurmCluster, start_cluster

METRICS = """
    import picidae
    run = picidae.init(config={"lr": 0.5})
    for step in range(3):
        run.log(loss=run.config["lr"] / (step + 1))
    print("trained on slurm")
"""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SlurmCluster]:
    root = Path(tmp_path_factory.mktemp("slurm", numbered=True))
    before = os.environ.get("SLURM_CONF")
    found = start_cluster(root)
    os.environ["SLURM_CONF"] = str(found.conf)
    try:
        yield found
    finally:
        subprocess.run(["scancel", "--user=root"], capture_output=True, timeout=30)
        found.stop()
        if before is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = before


@pytest.fixture
def slurm(cluster: SlurmCluster, start_worker: Callable[..., Any],
          sqlite_url: str) -> Iterator[SlurmCluster]:
    """The cluster, with a follower (``picidae worker --executor slurm``) on the store; the
    node is emptied afterwards."""
    start_worker("--executor", "slurm", "--store", sqlite_url)
    yield cluster
    subprocess.run(["scancel", "--user=root"], capture_output=True, timeout=30)
    wait_for(lambda: not _squeue(), timeout=30)


def _squeue() -> list[str]:
    out = subprocess.run(["squeue", "-h", "-o", "%i %T"], capture_output=True, text=True,
                         timeout=30)
    return out.stdout.split("\n") if out.stdout.strip() else []


def _status(run_id: str, store: str, *wanted: str) -> Any:
    rv = picidae.get_run(run_id, store=store)
    return rv if rv.status in wanted else None


def test_a_submitted_script_runs_in_slurm_and_completes_with_its_metrics(
        slurm: SlurmCluster, sqlite_url: str, script: Callable[[str], str],
        cli: Cli) -> None:
    out = cli("submit", "--executor", "slurm", "--cpus", "1", "--memory", "100M",
              "--set", "lr=0.1", "--store", sqlite_url, "--json", "--",
              sys.executable, script(METRICS))
    run_id = __import__("json").loads(out.stdout)["id"]
    done = wait_for(lambda: _status(run_id, sqlite_url, "completed", "failed"), timeout=60)
    assert done.status == "completed", done.failure
    assert done.compute["executor"] == "slurm" and done.compute["job_id"].isdigit()
    assert [p.value for p in done.metrics("loss")] == pytest.approx([0.1, 0.05, 0.1 / 3])
    assert "trained on slurm" in done.logs()
    assert [t["to"] for t in done.transitions] == ["provisioning", "running", "completed"]


def test_a_run_is_provisioning_while_slurm_holds_it_pending(
        slurm: SlurmCluster, sqlite_url: str) -> None:
    full = picidae.submit(["sleep", "4"], cpus=slurm.cpus, executor="slurm", store=sqlite_url)
    wait_for(lambda: _status(full.id, sqlite_url, "running"), timeout=30)
    held = picidae.submit(["true"], cpus=slurm.cpus, executor="slurm", store=sqlite_url)
    job = held.compute["job_id"]
    wait_for(lambda: f"{job} PENDING" in _squeue())
    assert picidae.get_run(held.id, store=sqlite_url).status == "provisioning"
    done = wait_for(lambda: _status(held.id, sqlite_url, "completed", "failed"), timeout=60)
    assert done.status == "completed"
    assert picidae.get_run(full.id, store=sqlite_url).status == "completed"


def test_seeds_give_three_children_that_all_complete(slurm: SlurmCluster,
                                                     sqlite_url: str) -> None:
    parent = picidae.submit(["sh", "-c", 'test "$PICIDAE_SEED" -ge 1'], seeds="1-3",
                            cpus=1, executor="slurm", store=sqlite_url)
    done = wait_for(lambda: _status(parent.id, sqlite_url, "completed", "failed"),
                    timeout=90)
    assert done.status == "completed"
    kids = done.children()
    assert sorted(k.seed for k in kids) == [1, 2, 3]
    assert {k.status for k in kids} == {"completed"}
    assert len({k.compute["job_id"] for k in kids}) == 3


def test_a_job_past_its_timeout_fails_with_reason_timeout(slurm: SlurmCluster,
                                                          sqlite_url: str) -> None:
    rv = picidae.submit(["sleep", "60"], timeout="2s", executor="slurm", store=sqlite_url)
    done = wait_for(lambda: _status(rv.id, sqlite_url, "failed", "completed", "canceled"),
                    timeout=60)
    assert done.status == "failed" and done.failure["reason"] == "timeout"


def test_picidae_cancel_scancels_the_job(slurm: SlurmCluster, sqlite_url: str,
                                         cli: Cli) -> None:
    rv = picidae.submit(["sleep", "60"], executor="slurm", store=sqlite_url)
    wait_for(lambda: _status(rv.id, sqlite_url, "running"), timeout=30)
    cli("cancel", rv.id, "--store", sqlite_url)
    job = rv.compute["job_id"]
    wait_for(lambda: not any(line.startswith(f"{job} ") for line in _squeue()), timeout=30)
    done = picidae.get_run(rv.id, store=sqlite_url)
    assert done.status == "canceled" and done.transitions[-1]["actor"] == "user"


def test_a_job_scanceled_by_hand_is_recorded_as_canceled_by_the_cluster(
        slurm: SlurmCluster, sqlite_url: str) -> None:
    rv = picidae.submit(["sleep", "60"], executor="slurm", store=sqlite_url)
    wait_for(lambda: _status(rv.id, sqlite_url, "running"), timeout=30)
    subprocess.run(["scancel", rv.compute["job_id"]], check=True, timeout=30)
    done = wait_for(lambda: _status(rv.id, sqlite_url, "canceled", "failed", "completed"),
                    timeout=60)
    assert done.status == "canceled", done.failure
    assert done.transitions[-1]["actor"] != "user"
    assert "canceled in Slurm" in done.transitions[-1]["reason"]


def test_the_generated_script_maps_the_request(sqlite_url: str) -> None:
    from picidae.executor.engines.slurm import script

    rv = picidae.submit(["python", "train.py"], name="cv/a b", cpus=2, gpus=1,
                        memory="4G", timeout="90m", store=sqlite_url)
    rec = picidae.get_run(rv.id, store=sqlite_url)._record
    rec["execution"]["engine"] = {"partition": "gpu", "account": "lab",
                                  "args": ["--qos=high"]}
    text = script(rec, sqlite_url)
    for line in ("#SBATCH --cpus-per-task=2", "#SBATCH --gpus=1", "#SBATCH --mem=4096M",
                 "#SBATCH --time=90", "#SBATCH --partition=gpu", "#SBATCH --account=lab",
                 "#SBATCH --qos=high", f"-m picidae.executor.attach {rv.id}"):
        assert line in text


def test_bad_executor_options_are_refused_in_one_line(cli: Cli, sqlite_url: str) -> None:
    out = cli("submit", "--executor", "kubernetes", "--store", sqlite_url, "--", "true",
              check=False)
    assert out.returncode == 2 and "kubernetes" in out.stderr
    out = cli("submit", "--partition", "gpu", "--store", sqlite_url, "--", "true",
              check=False)
    assert out.returncode == 1 and "--executor slurm" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr
    assert picidae.runs(store=sqlite_url) == []


VALUE = """
    import picidae
    run = picidae.init()
    run.log(value=float(run.config["x"]))
"""


def test_a_sweep_with_executor_slurm_runs_its_trials_as_slurm_jobs(
        slurm: SlurmCluster, sqlite_url: str, script: Callable[[str], str],
        cli: Cli) -> None:
    pytest.importorskip("optuna")
    out = cli("sweep", "--executor", "slurm", "--param", "x=choice:1,2,3", "--strategy",
              "grid", "--trials", "3", "--parallel", "3", "--metric", "value", "--store",
              sqlite_url, "--json", "--", sys.executable, script(VALUE), timeout=120)
    data = __import__("json").loads(out.stdout)
    assert data["status"] == "completed" and data["summary"]["trials_completed"] == 3
    assert data["summary"]["best_value"] == 3.0
    parent = picidae.get_run(data["id"], store=sqlite_url)
    assert parent.execution["engine"]["name"] == "slurm"  # what 'sweep resume' reuses
    kids = parent.children()
    assert sorted(k.config["x"] for k in kids) == [1, 2, 3]
    assert {(k.kind, k.status, k.queue) for k in kids} == {("sweep-point", "completed",
                                                            "slurm")}
    assert {k.compute["executor"] for k in kids} == {"slurm"}
    assert len({k.compute["job_id"] for k in kids}) == 3


def test_a_schedule_with_executor_slurm_submits_its_fired_run_to_slurm(
        slurm: SlurmCluster, sqlite_url: str, cli: Cli) -> None:
    pytest.importorskip("croniter")
    import time

    from picidae.executor.schedules import fire_due
    from picidae.store.registry import open_store

    cli("schedule", "add", "nightly", "--cron", "0 3 * * *", "--executor", "slurm",
        "--partition", "debug", "--store", sqlite_url, "--", "true")
    listed = __import__("json").loads(cli("schedule", "ls", "--json", "--store",
                                          sqlite_url).stdout)
    assert listed[0]["spec"]["engine"]["name"] == "slurm"
    assert listed[0]["spec"]["engine"]["partition"] == "debug"
    [(_, _, run_id)] = fire_due(open_store(sqlite_url), time.time() + 86400)
    done = wait_for(lambda: _status(run_id, sqlite_url, "completed", "failed"), timeout=60)
    assert done.status == "completed", done.failure
    assert done.trigger == "schedule" and done.queue == "slurm"
    assert done.compute["executor"] == "slurm" and done.compute["job_id"].isdigit()


def test_sweep_and_schedule_refuse_an_unknown_executor_in_one_line(
        cli: Cli, sqlite_url: str) -> None:
    pytest.importorskip("optuna")
    for args in (["sweep", "--param", "x=choice:1,2", "--metric", "v"],
                 ["schedule", "add", "s", "--cron", "0 3 * * *"]):
        out = cli(*args, "--executor", "kubernetes", "--store", sqlite_url, "--", "true",
                  check=False)
        assert out.returncode == 2 and "kubernetes" in out.stderr, out.stderr
        assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr
    assert picidae.runs(store=sqlite_url) == []
    assert "No schedules" in cli("schedule", "ls", "--store", sqlite_url).stdout
