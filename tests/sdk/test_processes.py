"""What only real processes show: exit hooks, crashes, SIGINT, SIGKILL mid-logging, a process
that dies without finishing, eight writers on one store, and what ``import picidae`` loads."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import picidae
from picidae.core.ids import new_id
from picidae.store.registry import open_store

RunScript = Callable[..., subprocess.CompletedProcess[str]]


def _popen(script: Path, *args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, str(script), *args], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_process_exiting_normally_completes_its_open_run(run_script: RunScript,
                                                         store_dir: Path) -> None:
    proc = run_script("""
        import sys, picidae
        run = picidae.init("no-finish-call", store=sys.argv[1])
        for i in range(1000):
            run.log(x=float(i))
        run.log_text("bye")
        print(run.id)
    """, str(store_dir))
    assert proc.returncode == 0, proc.stderr
    rv = picidae.get_run(proc.stdout.strip(), store=store_dir)
    assert rv.status == "completed"
    assert rv.metrics("x").steps == list(range(1000))  # buffered points flushed at exit
    assert [ln.text for ln in rv.logs()] == ["bye"]


def test_uncaught_exception_at_exit_fails_the_run_with_its_traceback(
        run_script: RunScript, store_dir: Path) -> None:
    proc = run_script("""
        import sys, picidae
        run = picidae.init("crash-at-exit", store=sys.argv[1])
        print(run.id, flush=True)
        run.log(loss=1.0)

        def train_step():
            raise RuntimeError("CUDA out of memory")

        train_step()
    """, str(store_dir))
    assert proc.returncode == 1
    assert "CUDA out of memory" in proc.stderr  # the usual traceback is still printed
    rv = picidae.get_run(proc.stdout.strip(), store=store_dir)
    assert rv.status == "failed"
    assert rv.failure["reason"] == "crash"
    assert rv.failure["message"] == "RuntimeError: CUDA out of memory"
    assert "in train_step" in rv.failure["traceback"]
    assert rv.metrics("loss").values == [1.0]


def test_uncaught_keyboard_interrupt_at_exit_cancels_the_run(run_script: RunScript,
                                                             store_dir: Path) -> None:
    proc = run_script("""
        import sys, picidae
        run = picidae.init("ctrl-c", store=sys.argv[1])
        print(run.id, flush=True)
        raise KeyboardInterrupt
    """, str(store_dir))
    assert proc.returncode != 0
    rv = picidae.get_run(proc.stdout.strip(), store=store_dir)
    assert rv.status == "canceled"
    assert rv.transitions[-1]["reason"] == "interrupted"


def test_sigint_during_a_with_block_cancels_the_run(write_script: Callable[[str], Path],
                                                    subprocess_env: dict[str, str],
                                                    store_dir: Path) -> None:
    script = write_script("""
        import sys, time, picidae
        with picidae.init("interruptible", store=sys.argv[1]) as run:
            print(run.id, flush=True)
            i = 0
            while True:
                run.log(i=float(i))
                i += 1
                time.sleep(0.001)
    """)
    proc = _popen(script, str(store_dir), env=subprocess_env)
    assert proc.stdout is not None
    run_id = proc.stdout.readline().strip()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode != 0 and "KeyboardInterrupt" in err
    rv = picidae.get_run(run_id, store=store_dir)
    assert rv.status == "canceled"
    assert rv.transitions[-1]["reason"] == "interrupted"
    assert rv.metrics("i").steps == list(range(len(rv.metrics("i"))))


def test_submitted_command_reports_to_its_queued_run_through_picidae_run_id(
        run_script: RunScript, store_dir: Path) -> None:
    run_id = new_id()
    open_store(store_dir).create_run({
        "id": run_id, "name": "queued/by-submit", "status": "queued", "root_id": run_id,
        "trigger": "user", "attempt": 1, "created_at": time.time(),
        "config": {"lr": 0.5}, "tags": ["submitted"]})
    proc = run_script("""
        import picidae
        run = picidae.init("train", config={"lr": 0.01, "epochs": 2})
        print(run.id)
        print(run.config["lr"], run.config["epochs"])
        run.log(loss=0.3)
    """, env={"PICIDAE_RUN_ID": run_id, "PICIDAE_STORE": str(store_dir)})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [run_id, "0.5", "2"]
    rv = picidae.get_run(run_id, store=store_dir)
    assert rv.status == "completed"
    assert rv.name == "queued/by-submit"
    assert rv.metrics("loss").values == [0.3]
    assert picidae.runs(store=store_dir) == [rv]


def test_process_that_dies_without_finishing_becomes_lost_then_failed(
        run_script: RunScript, store_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    proc = run_script("""
        import os, sys, picidae
        run = picidae.init("dies", store=sys.argv[1])
        run.log(x=1.0).flush()
        print(run.id, flush=True)
        os._exit(0)  # no finish, no exit hooks: like a machine that lost power
    """, str(store_dir))
    assert proc.returncode == 0, proc.stderr
    run_id = proc.stdout.strip()
    assert picidae.get_run(run_id, store=store_dir).status == "running"
    monkeypatch.setenv("PICIDAE_HEARTBEAT_TIMEOUT_S", "0.05")
    monkeypatch.setenv("PICIDAE_LOST_WINDOW_S", "3600")
    time.sleep(0.1)
    assert [v.status for v in picidae.runs(store=store_dir)] == ["lost"]
    monkeypatch.setenv("PICIDAE_LOST_WINDOW_S", "0.05")
    time.sleep(0.1)
    rv = picidae.get_run(run_id, store=store_dir)
    assert rv.status == "failed"
    assert rv.failure["reason"] == "lost"
    assert [(m["from"], m["to"]) for m in rv.transitions] == [
        ("queued", "running"), ("running", "lost"), ("lost", "failed")]
    assert rv.metrics("x").values == [1.0]


def test_sigkill_mid_logging_keeps_every_flushed_point_and_nothing_corrupt(
        write_script: Callable[[str], Path], subprocess_env: dict[str, str],
        store_dir: Path) -> None:
    script = write_script("""
        import sys, time, picidae
        run = picidae.init("killed", store=sys.argv[1])
        print(run.id, flush=True)
        i = 0
        while True:
            run.log(x=float(i), y=2.0 * i, stage="train")
            if i % 50 == 0:
                run.log_text(f"step {i}")
                time.sleep(0.001)
            i += 1
    """)
    env = {**subprocess_env, "PICIDAE_FLUSH_INTERVAL_S": "0.05"}
    proc = _popen(script, str(store_dir), env=env)
    assert proc.stdout is not None
    run_id = proc.stdout.readline().strip()
    store = open_store(store_dir)
    seen = 0
    deadline = time.monotonic() + 30
    while seen < 3000:  # wait until the background writer has flushed several times
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"the logging process did not get going: {proc.communicate()[1]}")
        time.sleep(0.02)
        seen = len(store.metrics(run_id, "x"))
    proc.kill()
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    with sqlite3.connect(store.db_path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    rv = picidae.get_run(run_id, store=store_dir)
    xs, ys = rv.metrics("x"), rv.metrics("y")
    assert len(xs) >= seen  # nothing that was flushed before the kill is gone
    assert xs.steps == list(range(len(xs)))  # a gap-free prefix: no half-written flush
    assert xs.values == [float(s) for s in xs.steps]
    assert ys.steps == xs.steps and ys.values == [2.0 * s for s in xs.steps]
    assert set(xs.stages) == {"train"}
    assert rv.latest_metrics() == {"x": xs.values[-1], "y": ys.values[-1]}
    texts = [ln.text for ln in rv.logs()]
    assert texts == [f"step {i}" for i in range(0, 50 * len(texts), 50)]
    assert rv.status == "running"  # nobody ended it; the watchdog will


WRITER = """
    import os, sys, time, picidae
    store, parent, index, go = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    run = picidae.init(f"concurrent/writer-{index}", parent=parent, store=store, kind="seed",
                       seed=index, config={"index": index}, tags=["concurrent"])
    print("ready", flush=True)
    while not os.path.exists(go):
        time.sleep(0.005)
    for step in range(3000):
        run.log(a=float(step), b=float(index))
        if step % 300 == 0:
            run.log_text(f"writer {index} at {step}")
            run.summary({"last": step})
            run.heartbeat()
    run.output("done", True)
    run.finish()
"""


def test_eight_concurrent_writer_processes_all_succeed_and_lose_nothing(
        write_script: Callable[[str], Path], subprocess_env: dict[str, str],
        store_dir: Path, tmp_path: Path) -> None:
    parent = picidae.init("concurrent", store=store_dir)
    script = write_script(WRITER)
    go = tmp_path / "go"
    env = {**subprocess_env, "PICIDAE_FLUSH_INTERVAL_S": "0.01",
           "PICIDAE_HEARTBEAT_INTERVAL_S": "0.01"}
    procs = [_popen(script, str(store_dir), parent.id, str(i), str(go), env=env)
             for i in range(8)]
    for proc in procs:  # every process has created its run before any starts logging
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready", proc.communicate()[1]
    go.touch()
    results = [proc.communicate(timeout=120) for proc in procs]
    for proc, (_, err) in zip(procs, results, strict=True):
        assert proc.returncode == 0, err
        assert "picidae" not in err  # no warnings about failed or dropped writes
    parent.finish()

    kids = picidae.get_run(parent.id, store=store_dir).children()
    assert len(kids) == 8
    assert sorted(k.seed for k in kids) == list(range(8))
    for kid in kids:
        assert kid.status == "completed"
        assert kid.metrics("a").steps == list(range(3000))
        assert kid.metrics("a").values == [float(s) for s in range(3000)]
        assert kid.metrics("b").values == [float(kid.seed)] * 3000
        assert [ln.text for ln in kid.logs()] == [f"writer {kid.seed} at {s}"
                                                  for s in range(0, 3000, 300)]
        assert kid.summary == {"last": 2700}
        assert kid.outputs == {"done": True}
    stats = picidae.get_run(parent.id, store=store_dir).children_stats(keys=["a", "b"])
    assert stats["a"]["n"] == 8 and stats["a"]["mean"] == 2999.0
    assert stats["b"]["mean"] == 3.5 and stats["b"]["min"] == 0 and stats["b"]["max"] == 7
    assert len(picidae.runs(store=store_dir, tags="concurrent", status="completed")) == 8


HEAVY = ("sqlalchemy", "fastapi", "starlette", "psycopg", "psycopg2", "boto3", "botocore",
         "alembic", "uvicorn", "mcp", "wandb", "tensorboard")


def test_import_picidae_loads_no_database_or_web_dependency(
        subprocess_env: dict[str, str]) -> None:
    code = ("import sys, json, picidae\n"
            f"heavy = {HEAVY!r}\n"
            "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} & set(heavy))))\n")
    proc = subprocess.run([sys.executable, "-c", code], env=subprocess_env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == []


def test_recording_on_the_embedded_store_loads_no_server_or_cloud_dependency(
        run_script: RunScript, store_dir: Path) -> None:
    proc = run_script("""
        import sys, json, picidae
        with picidae.init("light", store=sys.argv[1]) as run:
            run.log(x=1.0)
        picidae.runs(store=sys.argv[1])
        heavy = {"fastapi", "starlette", "uvicorn", "psycopg", "psycopg2", "boto3", "mcp"}
        print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} & heavy)))
    """, str(store_dir))
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == []


def test_public_names_are_sorted_and_all_resolve() -> None:
    names: list[Any] = list(picidae.__all__)
    assert names == sorted(names)
    assert len(set(names)) == len(names)
    for name in names:
        assert getattr(picidae, name) is not None, name
    contract = {"init", "get_run", "runs", "set_enabled", "Run", "RunView", "PicidaeError",
                "RunNotFound", "IllegalTransition", "InvalidInput", "StoreUnavailable",
                "RunFinished"}
    assert contract <= set(names)
    assert sorted(dir(picidae)) == dir(picidae)
    with pytest.raises(AttributeError):
        _ = picidae.no_such_name


def test_every_public_name_resolves_in_a_fresh_process(subprocess_env: dict[str, str]) -> None:
    code = ("import picidae\n"
            "missing = [n for n in picidae.__all__ if getattr(picidae, n, None) is None]\n"
            "print(missing)\n")
    proc = subprocess.run([sys.executable, "-c", code], env=subprocess_env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_child_process_does_not_inherit_the_parents_open_runs(run_script: RunScript,
                                                              store_dir: Path) -> None:
    # A fork()ed worker (e.g. a DataLoader) must not finish the parent's run at its exit.
    proc = run_script("""
        import os, sys, picidae
        run = picidae.init("forking", store=sys.argv[1])
        run.log(x=1.0)
        pid = os.fork()
        if pid == 0:
            sys.exit(0)  # the child exits normally, running exit hooks
        os.waitpid(pid, 0)
        status = picidae.get_run(run.id, store=sys.argv[1]).status
        print(status, flush=True)
        os._exit(0)
    """, str(store_dir))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "running"
