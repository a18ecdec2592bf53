"""The full transition table through the embedded store: legal moves are recorded with
``from``, ``to``, ``at``, ``reason`` and ``actor``; illegal ones change nothing."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from typing import Any

import pytest

from picidae.errors import IllegalTransition, InvalidInput, RunNotFound
from picidae.store.sql.sqlite import SqliteStore

ALL = ("queued", "provisioning", "syncing_data", "running", "evaluating", "completed", "failed",
       "canceled", "lost", "archived")

EXPECTED: dict[str, set[str]] = {
    "queued": {"provisioning", "syncing_data", "running", "failed", "canceled"},
    "provisioning": {"syncing_data", "running", "failed", "canceled"},
    "syncing_data": {"running", "failed", "canceled"},
    "running": {"evaluating", "completed", "lost", "failed", "canceled"},
    "evaluating": {"completed", "lost", "failed", "canceled"},
    "lost": {"running", "failed", "canceled"},  # lost from running: back to running only
    "completed": {"archived"},
    "failed": {"archived"},
    "canceled": {"archived"},
    "archived": set(),
}

# How to reach each state from a freshly queued run, by legal moves only.
PATHS: dict[str, list[str]] = {
    "queued": [], "provisioning": ["provisioning"], "syncing_data": ["syncing_data"],
    "running": ["running"], "evaluating": ["running", "evaluating"], "lost": ["running", "lost"],
    "completed": ["running", "completed"], "failed": ["failed"], "canceled": ["canceled"],
    "archived": ["canceled", "archived"],
}

PAIRS = list(itertools.product(ALL, ALL))

MakeRun = Callable[..., dict[str, Any]]


def _reach(store: SqliteStore, new_run: MakeRun, state: str) -> str:
    run_id = new_run(status="queued")["id"]
    for step in PATHS[state]:
        store.transition(run_id, step, reason=f"to {step}", actor="test")
    assert store.get_run(run_id)["status"] == state
    return run_id


@pytest.mark.parametrize(("current", "target"), PAIRS, ids=[f"{a}->{b}" for a, b in PAIRS])
def test_store_applies_the_full_transition_table(store: SqliteStore, new_run: MakeRun,
                                                 current: str, target: str) -> None:
    run_id = _reach(store, new_run, current)
    before = store.get_run(run_id)
    if target in EXPECTED[current]:
        after = store.transition(run_id, target, reason="because", actor="tester")
        assert after["status"] == target
        assert store.get_run(run_id)["status"] == target
        last = after["transitions"][-1]
        assert (last["from"], last["to"], last["reason"], last["actor"]) == (
            current, target, "because", "tester")
        assert isinstance(last["at"], float) and abs(last["at"] - time.time()) < 60
        assert len(after["transitions"]) == len(before["transitions"]) + 1
    else:
        with pytest.raises(IllegalTransition) as info:
            store.transition(run_id, target, reason="because", actor="tester")
        message = str(info.value)
        assert repr(current) in message and repr(target) in message
        assert set(info.value.legal) == EXPECTED[current]
        after = store.get_run(run_id)
        before.pop("duration_s")
        after.pop("duration_s")
        assert after == before  # nothing changed


def test_every_transition_keeps_from_to_at_reason_and_actor(store: SqliteStore,
                                                            new_run: MakeRun) -> None:
    run_id = new_run(status="queued")["id"]
    for state in ("provisioning", "syncing_data", "running", "evaluating", "completed",
                  "archived"):
        store.transition(run_id, state, reason=f"go {state}", actor="worker-1")
    moves = store.get_run(run_id)["transitions"]
    assert [(m["from"], m["to"]) for m in moves] == [
        ("queued", "provisioning"), ("provisioning", "syncing_data"), ("syncing_data", "running"),
        ("running", "evaluating"), ("evaluating", "completed"), ("completed", "archived")]
    assert all(set(m) >= {"from", "to", "at", "reason", "actor"} for m in moves)
    assert [m["at"] for m in moves] == sorted(m["at"] for m in moves)
    assert all(m["actor"] == "worker-1" and m["reason"] == f"go {m['to']}" for m in moves)


@pytest.mark.parametrize(("word", "canonical"), [
    ("finished", "completed"), ("succeeded", "completed"), ("interrupted", "canceled"),
    ("abandoned", "canceled"),
])
def test_synonyms_are_stored_under_the_canonical_name(store: SqliteStore, new_run: MakeRun,
                                                      word: str, canonical: str) -> None:
    run_id = new_run()["id"]
    rec = store.transition(run_id, word)
    assert rec["status"] == canonical
    assert rec["transitions"][-1]["to"] == canonical
    assert store.get_run(run_id)["status"] == canonical


def test_unknown_state_is_invalid_input_and_changes_nothing(store: SqliteStore,
                                                            new_run: MakeRun) -> None:
    run_id = new_run()["id"]
    with pytest.raises(InvalidInput):
        store.transition(run_id, "done")
    assert store.get_run(run_id)["status"] == "running"
    assert len(store.get_run(run_id)["transitions"]) == 1


def test_ending_a_run_sets_ended_at_and_duration(store: SqliteStore, new_run: MakeRun) -> None:
    run_id = new_run()["id"]
    rec = store.transition(run_id, "completed")
    assert rec["ended_at"] is not None and rec["ended_at"] >= rec["started_at"]
    assert rec["duration_s"] == pytest.approx(rec["ended_at"] - rec["started_at"])


def test_failing_keeps_the_failure_reason_and_message(store: SqliteStore,
                                                      new_run: MakeRun) -> None:
    run_id = new_run()["id"]
    rec = store.transition(run_id, "failed", reason="timeout",
                           failure={"reason": "timeout", "message": "over 2h"})
    assert rec["failure"] == {"reason": "timeout", "message": "over 2h"}
    assert rec["transitions"][-1]["reason"] == "timeout"


def test_transition_with_expect_refuses_a_run_in_another_state(store: SqliteStore,
                                                                new_run: MakeRun) -> None:
    run_id = new_run(status="queued")["id"]
    store.transition(run_id, "running", expect={"queued"})
    with pytest.raises(IllegalTransition):  # a second worker racing for the same queued run
        store.transition(run_id, "running", expect={"queued"})
    assert len(store.get_run(run_id)["transitions"]) == 1


def test_unknown_run_id_raises_run_not_found(store: SqliteStore) -> None:
    for call in (lambda: store.get_run("nope"), lambda: store.transition("nope", "running"),
                 lambda: store.heartbeat("nope")):
        with pytest.raises(RunNotFound) as info:
            call()
        assert isinstance(info.value, LookupError)
        assert "nope" in str(info.value)
