"""The lifecycle's side effects as data: what each move sets, what a heartbeat does, and which
writes an ended run refuses — pure functions, the same for every store."""

from __future__ import annotations

import pytest

from picidae.core import lifecycle
from picidae.core.lifecycle import MOVE_RULES, RunFacts, effects, on_heartbeat, write_refusal
from picidae.core.states import State
from picidae.errors import IllegalTransition, RunFinished

S = State


def test_starting_stamps_started_at_once_and_starts_the_heartbeat_clock() -> None:
    move = effects(RunFacts("r", S.QUEUED), S.RUNNING, at=10.0)
    assert move.columns == {"started_at": 10.0, "last_heartbeat_at": 10.0}
    again = effects(RunFacts("r", S.RUNNING, started_at=10.0), S.EVALUATING, at=20.0)
    assert again.columns == {"last_heartbeat_at": 20.0}


def test_a_run_that_ends_without_starting_has_no_start() -> None:
    move = effects(RunFacts("r", S.QUEUED), S.CANCELED, at=5.0, reason="abandoned")
    assert move.columns == {"ended_at": 5.0} and move.data == {}


def test_lost_remembers_where_from_and_leaving_it_forgets() -> None:
    lost = effects(RunFacts("r", S.EVALUATING, started_at=1.0), S.LOST, at=30.0)
    assert lost.columns == {"lost_at": 30.0, "lost_from": "evaluating"}
    back = effects(RunFacts("r", S.LOST, 1.0, S.EVALUATING, 30.0), S.EVALUATING, at=40.0)
    assert back.columns == {"last_heartbeat_at": 40.0, "lost_at": None, "lost_from": None}
    with pytest.raises(IllegalTransition):  # back only where it was lost from
        effects(RunFacts("r", S.LOST, 1.0, S.EVALUATING, 30.0), S.RUNNING, at=40.0)


def test_failed_always_carries_a_failure_with_a_reason() -> None:
    run = RunFacts("r", S.RUNNING, started_at=1.0)
    assert effects(run, S.FAILED, at=2.0).data == {"failure": {"reason": "error"}}
    assert effects(run, S.FAILED, at=2.0, reason="timeout").data["failure"] == {
        "reason": "timeout"}
    given = effects(run, S.FAILED, at=2.0, reason="x", failure={"reason": "crash", "exit_code": 1})
    assert given.data["failure"] == {"reason": "crash", "exit_code": 1}
    assert given.columns == {"ended_at": 2.0}


def test_every_rule_says_why_it_exists() -> None:
    assert all(type(rule).__doc__ for rule in MOVE_RULES)


def test_heartbeats_stamp_return_a_lost_run_fail_it_past_the_window_and_refuse_ended() -> None:
    assert on_heartbeat(RunFacts("r", S.RUNNING), at=5.0, window_s=10).action == "stamp"
    lost = RunFacts("r", S.LOST, 1.0, S.EVALUATING, lost_at=100.0)
    back = on_heartbeat(lost, at=105.0, window_s=10)
    assert (back.target, back.actor) == (S.EVALUATING, "heartbeat")
    late = on_heartbeat(lost, at=111.0, window_s=10)
    assert late.target is S.FAILED and late.failure and late.failure["reason"] == "lost"
    for ended in (S.COMPLETED, S.FAILED, S.CANCELED, S.ARCHIVED):
        with pytest.raises(RunFinished, match=f"has ended \\({ended.value}\\)"):
            on_heartbeat(RunFacts("r", ended), at=1.0, window_s=10)


def test_an_ended_run_refuses_writes_but_its_worker_may_record_its_epilogue() -> None:
    assert write_refusal(RunFacts("r", S.RUNNING), data=True) is None
    ended = RunFacts("r", S.CANCELED)
    refused = write_refusal(ended, data=True)
    assert isinstance(refused, RunFinished) and refused.status == "canceled"
    claimed = RunFacts("r", S.CANCELED, claimed=True)
    assert write_refusal(claimed, streams={"worker"}, fields={"resources", "cost"}) is None
    assert write_refusal(claimed, streams={"worker", "stdout"}) is not None  # the command's
    assert write_refusal(claimed, fields={"summary"}) is not None
    assert write_refusal(claimed, data=True) is not None
    assert write_refusal(RunFacts("r", S.ARCHIVED, claimed=True), streams={"worker"})


def test_the_heartbeat_interval_keeps_three_beats_per_timeout() -> None:
    assert lifecycle.heartbeat_every(60, 900) == 60
    assert lifecycle.heartbeat_every(60, 1.5) == 0.5
    assert lifecycle.heartbeat_every(60, 0.01) == 0.05
