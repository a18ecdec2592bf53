"""Honest local workers: they claim only runs that fit them, and leave no orphans."""

from __future__ import annotations

import math
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

import picidae
from picidae.errors import InvalidInput
from picidae.executor.worker import Worker, capacity
from picidae.store.registry import open_store

from .conftest import LiveServer, wait_for


def _processes_of(run_id: str) -> list[psutil.Process]:
    """Every live process started for ``run_id`` (its environment names the run)."""
    found = []
    for proc in psutil.process_iter():
        try:
            if proc.status() == psutil.STATUS_ZOMBIE:
                continue
            if proc.environ().get("PICIDAE_RUN_ID") == run_id:
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


def test_a_sigkilled_worker_leaves_no_process_of_its_command(
        sqlite_url: str, start_worker: Callable[..., Any]) -> None:
    # A shell that starts a child of its own, and a Python process under it.
    rv = picidae.submit(["sh", "-c", f"{sys.executable} -c 'import time; time.sleep(60)' & "
                                     "sleep 60; wait"], store=sqlite_url)
    worker = start_worker("--store", sqlite_url)
    wait_for(lambda: len(_processes_of(rv.id)) >= 3)  # sh, python, sleep
    try:
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
        wait_for(lambda: not _processes_of(rv.id), timeout=10)
    finally:
        for proc in _processes_of(rv.id):
            proc.kill()


def test_a_worker_without_gpus_never_claims_a_run_that_asked_for_one(
        sqlite_url: str, start_worker: Callable[..., Any]) -> None:
    gpu = picidae.submit(["true"], name="needs-gpu", gpus=1, store=sqlite_url)
    cpu = picidae.submit(["true"], name="cpu-only", store=sqlite_url)
    worker = start_worker("--once", "--gpus", "0", "--store", sqlite_url)
    _out, err = worker.communicate(timeout=60)
    assert worker.returncode == 0, err
    assert picidae.get_run(cpu.id, store=sqlite_url).status == "completed"
    still = picidae.get_run(gpu.id, store=sqlite_url)
    assert still.status == "queued" and not still.transitions and not still.compute


def test_claims_fit_what_the_worker_has_free(store_url: str) -> None:
    big = picidae.submit(["true"], name="big", cpus=8, memory="64G", store=store_url)
    odd = picidae.submit(["true"], name="odd", config={"x": math.nan}, cpus=2,
                         store=store_url)
    small = picidae.submit(["true"], name="small", cpus=1, store=store_url)
    store = open_store(store_url)
    assert store.claim("w", fits={"cpus": 0.5}) == []
    (first,) = store.claim("w", fits={"cpus": 4, "gpus": 0, "memory_mb": 1024})
    assert first["id"] == odd.id  # the oldest that fits (big does not)
    (second,) = store.claim("w", fits={"cpus": 4}, limit=5)
    assert second["id"] == small.id
    (last,) = store.claim("w", fits={"cpus": 8, "memory_mb": 65536})
    assert last["id"] == big.id


def test_bad_capacity_is_refused_with_the_field_named(sqlite_url: str) -> None:
    with pytest.raises(InvalidInput) as err:
        open_store(sqlite_url).claim("w", fits={"tpus": 1})
    assert err.value.field == "fits"
    with pytest.raises(InvalidInput) as err:
        open_store(sqlite_url).claim("w", fits={"cpus": -1})
    assert err.value.field == "fits"
    with pytest.raises(InvalidInput) as err:
        capacity(memory="lots")
    assert err.value.field == "memory"


def test_a_worker_runs_two_runs_at_once_only_while_both_fit(
        sqlite_url: str, tmp_path: Path) -> None:
    ids = [picidae.submit(["sleep", "0.3"], name=f"two-cpus/{i}", cpus=2,
                          store=sqlite_url).id for i in range(2)]
    w = Worker(sqlite_url, concurrency=2, once=True, cpus=3, workdir=tmp_path / "work")
    assert w.capacity["cpus"] == 3 and w.capacity["memory_mb"] > 0
    assert w.run() == 2
    runs = [picidae.get_run(i, store=sqlite_url) for i in ids]
    assert all(r.status == "completed" for r in runs)
    # Three CPUs hold one two-CPU run at a time: the second started after the first ended.
    assert runs[1].started_at >= runs[0].ended_at


def test_claims_over_http_carry_the_fit(tmp_path: Path) -> None:
    with LiveServer(str(tmp_path / "server-store")) as srv:
        gpu = picidae.submit(["true"], gpus=2, store=srv.url)
        assert open_store(srv.url).claim("w", fits={"gpus": 1}) == []
        (got,) = open_store(srv.url).claim("w", fits={"gpus": 2})
        assert got["id"] == gpu.id
        reply = httpx.post(f"{srv.url}/api/v1/queue/claim",
                           json={"worker": "w", "fits": {"cpus": "many"}})
        assert reply.status_code == 422 and "fits" in reply.text
