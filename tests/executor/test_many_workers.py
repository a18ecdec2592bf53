"""Many workers on one store: every run executed exactly once; a dead worker's runs end."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import picidae
from picidae.store.registry import open_store

from .conftest import pid_alive, wait_for


def test_three_workers_drain_thirty_runs_each_exactly_once(
        store_url: str, start_worker: Callable[..., Any], tmp_path: Path) -> None:
    ledger = tmp_path / "ledger"
    ids = [picidae.submit(["sh", "-c", f'echo "$PICIDAE_RUN_ID" >> {ledger}; sleep 0.05'],
                          name=f"drain/{i}", store=store_url).id for i in range(30)]
    workers = [start_worker("--once", "--concurrency", "2", "--store", store_url)
               for _ in range(3)]
    for worker in workers:
        _, err = worker.communicate(timeout=60)
        assert worker.returncode == 0, err
    executed = ledger.read_text().split()
    assert sorted(executed) == sorted(ids)  # each once: none twice, none missed
    runs = picidae.runs(store=store_url, name="drain/*")
    assert {r.status for r in runs} == {"completed"} and len(runs) == 30
    for rv in runs:
        claims = [t for t in rv.transitions if t["to"] == "provisioning"]
        assert len(claims) == 1
    assert len({r.compute["worker"] for r in runs}) >= 2  # the work was shared


def test_a_worker_killed_mid_run_takes_its_commands_along_and_its_run_goes_lost_then_failed(
        sqlite_url: str, start_worker: Callable[..., Any], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    knobs = {"PICIDAE_HEARTBEAT_TIMEOUT_S": "1", "PICIDAE_HEARTBEAT_INTERVAL_S": "0.2"}
    for name, value in knobs.items():
        monkeypatch.setenv(name, value)
    side = tmp_path / "side.pid"
    rv = picidae.submit(["sh", "-c", f"sleep 30 & echo $! > {side}; sleep 30"],
                        store=sqlite_url)
    worker = start_worker("--store", sqlite_url, extra_env=knobs)

    def running_pid() -> int | None:
        found = picidae.get_run(rv.id, store=sqlite_url)
        return (found.compute or {}).get("pid") if found.status == "running" else None

    pid = wait_for(running_pid)
    side_pid = int(wait_for(lambda: side.exists() and side.read_text().strip()))
    time.sleep(1.2)  # heartbeats keep it running past the timeout while the worker lives
    assert picidae.get_run(rv.id, store=sqlite_url).status == "running"
    worker.send_signal(signal.SIGKILL)
    worker.wait(timeout=10)
    try:
        # No orphans: the command and what it started died with the worker.
        wait_for(lambda: not pid_alive(pid) and not pid_alive(side_pid), timeout=10)
        lost = wait_for(lambda: picidae.get_run(rv.id, store=sqlite_url).status == "lost",
                        timeout=10)
        assert lost
        monkeypatch.setenv("PICIDAE_LOST_WINDOW_S", "0.05")
        time.sleep(0.1)
        done = picidae.get_run(rv.id, store=sqlite_url)
        assert done.status == "failed" and done.failure["reason"] == "lost"
    finally:
        for leftover in (pid, side_pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(leftover, signal.SIGKILL)


def test_a_claimed_run_whose_worker_vanished_before_running_fails_lost(
        sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    rv = picidae.submit(["true"], store=sqlite_url)
    (claimed,) = open_store(sqlite_url).claim("ghost-worker")
    assert claimed["id"] == rv.id and claimed["status"] == "provisioning"
    assert claimed["compute"]["worker"] == "ghost-worker"
    assert open_store(sqlite_url).claim("other-worker") == []
    monkeypatch.setenv("PICIDAE_HEARTBEAT_TIMEOUT_S", "0.05")
    time.sleep(0.1)
    done = picidae.get_run(rv.id, store=sqlite_url)
    assert done.status == "failed" and done.failure["reason"] == "lost"
    assert done.transitions[-1]["actor"] == "watchdog"
