"""Schedules: stored in the database, fired once per slot by whichever servers and workers
run, at most one catch-up after downtime."""

from __future__ import annotations

import itertools
import sys
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

import picidae
from picidae.executor import schedules
from picidae.executor.schedules import fire_due
from picidae.store.capabilities import ScheduleStore, WorkspacedStore
from picidae.store.registry import open_store
from processes import ServerProcess

from .conftest import Cli, wait_for

pytest.importorskip("croniter")

EVERY_2S = "* * * * * */2"


def _fired(store_url: str) -> list[picidae.RunView]:
    return picidae.runs(store=store_url, where="trigger = 'schedule'",
                        order_by="created_at")


def test_a_slot_fires_once_and_names_its_schedule(sqlite_url: str) -> None:
    t0 = 1_800_000_000.0  # an injected clock: no sleeping
    schedules.add("nightly", "0 3 * * *", command=["python", "eval.py"], tz="Europe/Berlin",
                  spec={"config": {"split": "test"}, "queue": "gpu"}, store=sqlite_url, now=t0)
    store = open_store(sqlite_url)
    assert fire_due(store, t0 + 60) == []  # no slot since it was added
    slot = datetime(2027, 1, 16, 3, tzinfo=ZoneInfo("Europe/Berlin")).timestamp()  # next 3 am
    fired = fire_due(store, slot + 5)
    assert [(name, at) for name, at, _ in fired] == [("nightly", slot)]
    assert fire_due(store, slot + 10) == []  # the same slot never fires twice
    run = picidae.get_run(fired[0][2], store=sqlite_url)
    assert (run.trigger, run.status, run.queue, run.name) == ("schedule", "queued", "gpu",
                                                              "nightly")
    assert run.execution["schedule"] == {"name": "nightly", "slot": slot}
    assert run.command == ["python", "eval.py"] and run.config == {"split": "test"}


def test_after_downtime_only_the_newest_missed_slot_fires(sqlite_url: str) -> None:
    t0 = 1_800_000_000.0
    schedules.add("often", EVERY_2S, command=["true"], store=sqlite_url, now=t0)
    store = open_store(sqlite_url)
    assert len(fire_due(store, t0 + 2)) == 1
    # Down for 7 s: slots t0+4, t0+6 and t0+8 missed; one catch-up, for the newest.
    assert [at for _, at, _ in fire_due(store, t0 + 9)] == [t0 + 8]
    assert [at for _, at, _ in fire_due(store, t0 + 10.5)] == [t0 + 10]
    assert isinstance(store, ScheduleStore)
    assert [f["slot"] for f in store.schedules().fires("often")] == [t0 + 2, t0 + 8, t0 + 10]


def test_a_paused_schedule_fires_nothing_and_resumes_from_its_next_slot(
        sqlite_url: str, cli: Cli) -> None:
    t0 = time.time()
    schedules.add("p", EVERY_2S, command=["true"], store=sqlite_url, now=t0)
    cli("schedule", "pause", "p", "--store", sqlite_url)
    store = open_store(sqlite_url)
    assert fire_due(store, t0 + 20) == []
    cli("schedule", "resume", "p", "--store", sqlite_url)
    later = time.time() + 20
    assert len(fire_due(store, later)) == 1
    listed = cli("schedule", "ls", "--json", "--store", sqlite_url).stdout
    assert '"paused": false' in listed and '"name": "p"' in listed
    cli("schedule", "rm", "p", "--store", sqlite_url)
    assert "No schedules" in cli("schedule", "ls", "--store", sqlite_url).stdout


def test_a_schedule_can_submit_a_flow(sqlite_url: str, cli: Cli) -> None:
    cli("flow", "add", "train", "--set", "lr=0.1", "--store", sqlite_url, "--", "python",
        "train.py")
    t0 = 1_800_000_000.0
    schedules.add("weekly", "0 0 * * 0", flow="train", store=sqlite_url, now=t0)
    fired = fire_due(open_store(sqlite_url), t0 + 8 * 86400)
    run = picidae.get_run(fired[0][2], store=sqlite_url)
    assert (run.flow, run.flow_version, run.trigger) == ("train", 1, "schedule")
    assert run.config == {"lr": 0.1}


@pytest.mark.parametrize(("args", "says"), [
    (["--cron", "61 * * * *", "--", "true"], "invalid cron expression '61 * * * *'"),
    (["--cron", "* * *", "--", "true"], "it has 3 fields"),
    (["--cron", "0 3 * * *", "--tz", "Mars/Olympus", "--", "true"], "unknown time zone"),
    (["--", "true"], "needs --cron"),
    (["--cron", "0 3 * * *"], "a command (after '--') or a flow"),
    (["--cron", "0 3 * * *", "--flow", "missing"], "missing"),
])
def test_bad_schedule_input_exits_2_with_one_line_and_stores_nothing(
        cli: Cli, sqlite_url: str, args: list[str], says: str) -> None:
    proc = cli("schedule", "add", "s", *args, "--store", sqlite_url, check=False)
    assert proc.returncode != 0, proc.stderr
    assert says in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    if "missing" not in args:
        assert proc.returncode == 2
    assert "No schedules" in cli("schedule", "ls", "--store", sqlite_url).stdout


def _slots(runs: list[picidae.RunView]) -> list[float]:
    return [r.execution["schedule"]["slot"] for r in runs]


def test_a_worker_fires_a_schedule_and_runs_what_it_fired(
        sqlite_url: str, cli: Cli, start_worker: Any, script: Any) -> None:
    prog = script("""
        import picidae
        picidae.init().log(fired=1.0)
    """)
    cli("schedule", "add", "tick", "--cron", EVERY_2S, "--store", sqlite_url, "--",
        sys.executable, prog)
    start_worker("--store", sqlite_url)
    run = wait_for(lambda: next((r for r in _fired(sqlite_url) if r.status == "completed"),
                                None), timeout=60)
    assert run.trigger == "schedule" and run.latest_metrics()["fired"] == 1.0
    assert run.execution["schedule"]["name"] == "tick"


@pytest.mark.slow
def test_two_servers_on_one_database_fire_each_slot_exactly_once(
        pg_url: str, subprocess_env: dict[str, str], cli: Cli) -> None:
    cli("schedule", "add", "tick", "--cron", EVERY_2S, "--store", pg_url, "--", "true")
    servers = [ServerProcess(pg_url, subprocess_env).start() for _ in range(2)]
    try:
        wait_for(lambda: len(_fired(pg_url)) >= 4, timeout=30)
    finally:
        for srv in servers:
            srv.stop()
    slots = _slots(_fired(pg_url))
    assert max(Counter(slots).values()) == 1, slots  # never twice
    assert all(s % 2 == 0 for s in slots)
    # No slot was skipped while both ran (a skipped one would be a gap of 4 s or more).
    assert all(b - a == 2 for a, b in itertools.pairwise(slots)), slots


@pytest.mark.slow
def test_a_restart_that_missed_three_slots_fires_one_catch_up(
        pg_url: str, subprocess_env: dict[str, str], cli: Cli, tmp_path: Path) -> None:
    cli("schedule", "add", "tick", "--cron", EVERY_2S, "--store", pg_url, "--", "true")
    srv = ServerProcess(pg_url, subprocess_env).start()
    wait_for(lambda: len(_fired(pg_url)) >= 1, timeout=30)
    srv.stop()
    down_from = max(_slots(_fired(pg_url)))
    time.sleep(7.5)  # three slots pass with no server (a wall clock: real processes)
    restarted = time.time()
    srv.start()  # its scheduler's first tick runs before it answers /healthz
    ready = time.time()
    try:
        wait_for(lambda: any(s > ready for s in _slots(_fired(pg_url))), timeout=30)
    finally:
        srv.stop()
    slots = _slots(_fired(pg_url))
    after = sorted(s for s in slots if s > down_from)
    # One catch-up, not one per missed slot: the first slot fired after the outage is the
    # newest one due when the server came back (a slow start may add regular slots after it,
    # every 2 s, but never an older missed one).
    assert after[0] >= restarted - 2, (down_from, restarted, slots)
    assert after[0] - down_from >= 8, (down_from, slots)
    assert all(b - a == 2 for a, b in itertools.pairwise(after)), slots
    assert max(Counter(slots).values()) == 1


def test_an_app_whose_lifespan_runs_twice_starts_its_scheduler_again(sqlite_url: str) -> None:
    """Starlette may run an app's lifespan more than once (a TestClient entered twice,
    schemathesis); the second start used to raise 'threads can only be started once'."""
    from fastapi.testclient import TestClient

    from picidae.server.app import create_app

    app = create_app(sqlite_url)
    for _ in range(2):
        with TestClient(app) as client:
            assert client.get("/healthz").status_code == 200


@pytest.mark.parametrize("backing", ["sqlite", "postgresql"])
def test_every_workspaces_schedules_fire_into_their_own_workspace(
        backing: str, request: pytest.FixtureRequest) -> None:
    url = request.getfixturevalue("sqlite_url" if backing == "sqlite" else "pg_url")
    t0 = 1_800_000_000.0
    base = open_store(url)
    assert isinstance(base, WorkspacedStore)
    for ws in ("team-a", "team-b"):
        bound = base.for_workspace(ws)
        assert isinstance(bound, ScheduleStore)
        bound.schedules().add(f"{ws}-job", EVERY_2S, "UTC",
                              spec={"command": ["echo", ws]}, now=t0)
    fired = fire_due(base, t0 + 2)  # the default workspace's store fires them all
    assert sorted(name for name, _, _ in fired) == ["team-a-job", "team-b-job"]
    assert fire_due(base.for_workspace("team-a"), t0 + 3) == []  # once per slot, anywhere
    for name, _, run_id in fired:
        ws = name.removesuffix("-job")
        assert base.run_workspace(run_id) == ws
        assert base.for_workspace(ws).get_run(run_id)["command"] == ["echo", ws]
