"""Canceling: queued runs at once, running ones by their worker, with no orphan process."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import picidae
from picidae.errors import IllegalTransition
from picidae.executor.worker import Worker

from .conftest import Cli, pid_alive, wait_for


def _running_pid(run_id: str, store: str) -> int:
    def ready() -> int | None:
        rv = picidae.get_run(run_id, store=store)
        pid = (rv.compute or {}).get("pid")
        return pid if rv.status == "running" and pid else None

    return int(wait_for(ready))


def test_cancel_of_a_running_sleep_stops_its_process_group(
        cli: Cli, start_worker: Callable[..., Any], sqlite_url: str, tmp_path: Path) -> None:
    side = tmp_path / "side.pid"
    rv = picidae.submit(["sh", "-c", f"sleep 30 & echo $! > {side}; sleep 30"],
                        store=sqlite_url)
    worker = start_worker("--once", "--store", sqlite_url)
    pid = _running_pid(rv.id, sqlite_url)
    side_pid = int(wait_for(lambda: side.exists() and side.read_text().strip()))
    out = cli("cancel", rv.id, "--store", sqlite_url)
    assert "canceled" in out.stdout
    worker.communicate(timeout=15)
    assert worker.returncode == 0
    done = picidae.get_run(rv.id, store=sqlite_url)
    assert done.status == "canceled"
    assert done.transitions[-1]["actor"] == "user"
    assert not pid_alive(pid) and not pid_alive(side_pid)  # no orphan
    # The group ended on SIGTERM, within the grace period: no SIGKILL was needed (the
    # worker's own log says which; a wall-clock bound would fail on a loaded machine).
    texts = [ln.text for ln in done.logs()]
    assert any("SIGTERM" in t for t in texts), texts
    assert not any("outlived the grace period" in t for t in texts), texts


def test_a_command_ignoring_sigterm_is_killed_after_the_grace_period(
        sqlite_url: str) -> None:
    rv = picidae.submit(["sh", "-c", "trap '' TERM; sleep 30"], store=sqlite_url)
    worker = threading.Thread(target=Worker(sqlite_url, once=True).run)
    worker.start()
    pid = _running_pid(rv.id, sqlite_url)
    started = time.time()
    assert picidae.cancel(rv.id, store=sqlite_url).status == "canceled"
    worker.join(timeout=30)
    assert not worker.is_alive()
    assert time.time() - started >= 2  # the grace period (2 s in tests) was given first
    assert not pid_alive(pid)
    assert any("outlived the grace period: SIGKILL" in ln.text
               for ln in picidae.get_run(rv.id, store=sqlite_url).logs())


def test_a_queued_run_is_canceled_at_once_and_never_runs(sqlite_url: str,
                                                          tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    rv = picidae.submit(["touch", str(marker)], store=sqlite_url)
    assert picidae.cancel(rv.id, store=sqlite_url).status == "canceled"
    assert Worker(sqlite_url, once=True).run() == 0
    assert not marker.exists()
    with pytest.raises(IllegalTransition, match="canceled"):
        picidae.cancel(rv.id, store=sqlite_url)


def test_canceling_a_parent_cancels_its_unfinished_children(sqlite_url: str) -> None:
    parent = picidae.submit(["sleep", "30"], seeds="1-3", store=sqlite_url)
    worker = threading.Thread(target=Worker(sqlite_url, once=True).run)
    worker.start()
    first = parent.children()[0]
    pid = _running_pid(first.id, sqlite_url)
    picidae.cancel(parent.id, store=sqlite_url)
    worker.join(timeout=15)
    done = picidae.get_run(parent.id, store=sqlite_url)
    assert done.status == "canceled"
    assert {k.status for k in done.children()} == {"canceled"}
    assert not pid_alive(pid)
