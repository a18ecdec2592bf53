"""Lost and recovery on the embedded store: every read applies the heartbeat timeout and the
recovery window, and a heartbeat brings a lost run back to where it was."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from picidae.errors import RunFinished
from picidae.store.base import RunQuery
from picidae.store.sql.sqlite import SqliteStore

MakeRun = Callable[..., dict[str, Any]]


@pytest.fixture
def tiny_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    """A run silent for 5 s is lost; a lost run is failed after an hour."""
    monkeypatch.setenv("PICIDAE_HEARTBEAT_TIMEOUT_S", "5")
    monkeypatch.setenv("PICIDAE_LOST_WINDOW_S", "3600")


def _silent_run(new_run: MakeRun, status: str = "running", silent_s: float = 60.0) -> str:
    past = time.time() - silent_s
    return new_run(status=status, created_at=past, started_at=past, last_heartbeat_at=past)["id"]


def _expire_window(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PICIDAE_LOST_WINDOW_S", "0.01")
    time.sleep(0.05)


@pytest.mark.usefixtures("tiny_timeout")
def test_get_run_turns_a_silent_running_run_lost(store: SqliteStore, new_run: MakeRun) -> None:
    run_id = _silent_run(new_run)
    rec = store.get_run(run_id)
    assert rec["status"] == "lost"
    last = rec["transitions"][-1]
    assert (last["from"], last["to"], last["actor"]) == ("running", "lost", "watchdog")
    assert "heartbeat" in last["reason"]


@pytest.mark.usefixtures("tiny_timeout")
def test_listing_runs_applies_the_timeout_too(store: SqliteStore, new_run: MakeRun) -> None:
    silent = _silent_run(new_run)
    fresh = new_run()["id"]
    status = {r["id"]: r["status"] for r in store.list_runs(RunQuery())}
    assert status == {silent: "lost", fresh: "running"}


@pytest.mark.usefixtures("tiny_timeout")
def test_heartbeat_returns_lost_run_to_running(store: SqliteStore, new_run: MakeRun) -> None:
    run_id = _silent_run(new_run)
    assert store.get_run(run_id)["status"] == "lost"
    assert store.heartbeat(run_id) == "running"
    rec = store.get_run(run_id)
    assert rec["status"] == "running"
    assert rec["last_heartbeat_at"] > time.time() - 5
    assert [(m["from"], m["to"]) for m in rec["transitions"][-2:]] == [
        ("running", "lost"), ("lost", "running")]


@pytest.mark.usefixtures("tiny_timeout")
def test_heartbeat_returns_lost_run_to_evaluating(store: SqliteStore, new_run: MakeRun) -> None:
    run_id = _silent_run(new_run, status="evaluating")
    assert store.get_run(run_id)["status"] == "lost"
    assert store.heartbeat(run_id) == "evaluating"
    assert store.get_run(run_id)["status"] == "evaluating"


@pytest.mark.usefixtures("tiny_timeout")
def test_lost_run_past_the_window_fails_with_reason_lost_on_read(
        store: SqliteStore, new_run: MakeRun, monkeypatch: pytest.MonkeyPatch) -> None:
    run_id = _silent_run(new_run)
    assert store.get_run(run_id)["status"] == "lost"
    _expire_window(monkeypatch)
    rec = store.get_run(run_id)
    assert rec["status"] == "failed"
    assert rec["failure"]["reason"] == "lost"
    assert rec["ended_at"] is not None
    assert [(m["from"], m["to"], m["reason"]) for m in rec["transitions"][-2:]] == [
        ("running", "lost", rec["transitions"][-2]["reason"]), ("lost", "failed", "lost")]


@pytest.mark.usefixtures("tiny_timeout")
def test_heartbeat_after_the_window_fails_the_lost_run(
        store: SqliteStore, new_run: MakeRun, monkeypatch: pytest.MonkeyPatch) -> None:
    run_id = _silent_run(new_run)
    assert store.get_run(run_id)["status"] == "lost"
    _expire_window(monkeypatch)
    assert store.heartbeat(run_id) == "failed"
    rec = store.get_run(run_id)
    assert rec["status"] == "failed" and rec["failure"]["reason"] == "lost"


@pytest.mark.usefixtures("tiny_timeout")
def test_lost_then_failed_are_both_recorded_as_transitions(
        store: SqliteStore, new_run: MakeRun, monkeypatch: pytest.MonkeyPatch) -> None:
    run_id = _silent_run(new_run)
    store.apply_liveness()
    _expire_window(monkeypatch)
    rec = store.get_run(run_id)
    assert rec["status"] == "failed"
    assert [m["to"] for m in rec["transitions"]] == ["running", "lost", "failed"]


@pytest.mark.usefixtures("tiny_timeout")
@pytest.mark.parametrize("status", ["queued", "provisioning", "syncing_data", "completed",
                                    "failed", "canceled"])
def test_runs_that_need_no_heartbeat_are_never_lost(store: SqliteStore, new_run: MakeRun,
                                                    status: str) -> None:
    run_id = _silent_run(new_run, status=status, silent_s=10_000)
    assert store.get_run(run_id)["status"] == status


def test_default_timeout_is_fifteen_minutes(store: SqliteStore, new_run: MakeRun) -> None:
    quiet = _silent_run(new_run, silent_s=14 * 60)
    gone = _silent_run(new_run, silent_s=16 * 60)
    assert store.get_run(quiet)["status"] == "running"
    assert store.get_run(gone)["status"] == "lost"


def test_default_recovery_window_is_48_hours(store: SqliteStore, new_run: MakeRun) -> None:
    run_id = _silent_run(new_run, silent_s=16 * 60)
    assert store.get_run(run_id)["status"] == "lost"
    later = time.time() + 47 * 3600
    assert store.apply_liveness(now=later) == []
    assert store.apply_liveness(now=later + 2 * 3600) == [(run_id, "lost", "failed")]


def test_heartbeat_on_an_ended_run_is_refused_and_changes_nothing(
        store: SqliteStore, new_run: MakeRun) -> None:
    run_id = new_run()["id"]
    store.transition(run_id, "completed")
    before = store.get_run(run_id)
    with pytest.raises(RunFinished, match="has ended"):
        store.heartbeat(run_id)
    after = store.get_run(run_id)
    assert after["last_heartbeat_at"] == before["last_heartbeat_at"]
    assert after["transitions"] == before["transitions"]


def test_run_silent_past_timeout_and_window_fails_on_the_first_read(
        store: SqliteStore, new_run: MakeRun) -> None:
    # A process that crashed three days ago, and nobody read the store since: the first read
    # must not show it merely 'lost' (and for 48 more hours), but failed with reason lost.
    run_id = _silent_run(new_run, silent_s=3 * 24 * 3600)
    rec = store.get_run(run_id)
    assert rec["status"] == "failed"
    assert rec["failure"]["reason"] == "lost"
    assert [m["to"] for m in rec["transitions"]] == ["running", "lost", "failed"]


def test_lost_transition_is_dated_when_the_timeout_expired(store: SqliteStore,
                                                           new_run: MakeRun) -> None:
    run_id = _silent_run(new_run, silent_s=2 * 3600)
    rec = store.get_run(run_id)
    assert rec["status"] == "lost"
    lost = rec["transitions"][-1]
    assert lost["at"] == pytest.approx(rec["last_heartbeat_at"] + 900)
