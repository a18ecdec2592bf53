"""The lifecycle as the contract draws it, checked against the pure decision functions.

The expected table is written out here from CONTRACT.md, independently of ``core.states``.
"""

from __future__ import annotations

import itertools

import pytest

from picidae.core.lifecycle import decide, liveness_target, parse_state, require
from picidae.core.states import State
from picidae.errors import IllegalTransition, InvalidInput, PicidaeError

ALL = ("queued", "provisioning", "syncing_data", "running", "evaluating", "completed", "failed",
       "canceled", "lost", "archived")

# From the contract's diagram and bullet points.
EXPECTED: dict[str, set[str]] = {
    "queued": {"provisioning", "syncing_data", "running", "failed", "canceled"},
    "provisioning": {"syncing_data", "running", "failed", "canceled"},
    "syncing_data": {"running", "failed", "canceled"},
    "running": {"evaluating", "completed", "lost", "failed", "canceled"},
    "evaluating": {"completed", "lost", "failed", "canceled"},
    "lost": {"running", "evaluating", "failed", "canceled"},
    "completed": {"archived"},
    "failed": {"archived"},
    "canceled": {"archived"},
    "archived": set(),
}

PAIRS = list(itertools.product(ALL, ALL))


def test_state_names_are_the_contracts_lower_case_words() -> None:
    assert sorted(s.value for s in State) == sorted(ALL)
    assert all(State(name) == name for name in ALL)  # StrEnum: equal to its wire string


@pytest.mark.parametrize(("current", "target"), PAIRS, ids=[f"{a}->{b}" for a, b in PAIRS])
def test_transition_table_matches_the_contract(current: str, target: str) -> None:
    decision = decide(State(current), State(target))
    assert decision.accepted is (target in EXPECTED[current])


@pytest.mark.parametrize(("current", "target"),
                         [(a, b) for a, b in PAIRS if b not in EXPECTED[a]])
def test_illegal_transition_error_names_current_asked_and_legal_targets(current: str,
                                                                       target: str) -> None:
    with pytest.raises(IllegalTransition) as info:
        require("run-1", State(current), State(target))
    err = info.value
    assert isinstance(err, PicidaeError)
    assert err.current == current
    assert err.asked == target
    assert set(err.legal) == EXPECTED[current]
    message = str(err)
    assert repr(current) in message and repr(target) in message
    for legal in EXPECTED[current]:
        assert legal in message


def test_final_state_error_says_there_are_no_legal_targets() -> None:
    with pytest.raises(IllegalTransition) as info:
        require("run-1", State.ARCHIVED, State.RUNNING)
    assert info.value.legal == []
    assert "none" in str(info.value)


def test_lost_run_returns_only_to_the_state_it_was_lost_from() -> None:
    assert decide(State.LOST, State.EVALUATING, lost_from=State.EVALUATING).accepted
    assert not decide(State.LOST, State.RUNNING, lost_from=State.EVALUATING).accepted
    assert decide(State.LOST, State.RUNNING, lost_from=State.RUNNING).accepted
    assert not decide(State.LOST, State.EVALUATING, lost_from=State.RUNNING).accepted
    with pytest.raises(IllegalTransition) as info:
        require("r", State.LOST, State.RUNNING, lost_from=State.EVALUATING)
    assert set(info.value.legal) == {"evaluating", "failed", "canceled"}


@pytest.mark.parametrize(("word", "canonical"), [
    ("finished", "completed"), ("succeeded", "completed"), ("interrupted", "canceled"),
    ("abandoned", "canceled"), ("completed", "completed"), ("RUNNING", "running"),
    (" evaluating ", "evaluating"),
])
def test_synonyms_and_case_parse_to_the_canonical_state(word: str, canonical: str) -> None:
    state = parse_state(word)
    assert state is State(canonical)
    assert state.value == canonical


@pytest.mark.parametrize("word", ["done", "", "complete d", "paused"])
def test_unknown_state_word_is_invalid_input_listing_the_states(word: str) -> None:
    with pytest.raises(InvalidInput) as info:
        parse_state(word)
    assert isinstance(info.value, ValueError)
    assert "running" in str(info.value) and "completed" in str(info.value)


def test_non_string_state_is_invalid_input() -> None:
    with pytest.raises(InvalidInput):
        parse_state(3)  # type: ignore[arg-type]


def test_liveness_marks_silent_running_and_evaluating_runs_lost() -> None:
    for status in (State.RUNNING, State.EVALUATING):
        assert liveness_target(status, now=100.0, last_heartbeat_at=10.0, lost_at=None,
                               timeout_s=60.0, window_s=1000.0) is State.LOST
        assert liveness_target(status, now=100.0, last_heartbeat_at=50.0, lost_at=None,
                               timeout_s=60.0, window_s=1000.0) is None


def test_liveness_fails_a_run_lost_past_the_window_only() -> None:
    assert liveness_target(State.LOST, now=100.0, last_heartbeat_at=0.0, lost_at=10.0,
                           timeout_s=1.0, window_s=50.0) is State.FAILED
    assert liveness_target(State.LOST, now=100.0, last_heartbeat_at=0.0, lost_at=60.0,
                           timeout_s=1.0, window_s=50.0) is None


@pytest.mark.parametrize("status", ["queued", "provisioning", "syncing_data", "completed",
                                    "failed", "canceled", "archived"])
def test_liveness_leaves_runs_that_need_no_heartbeat_alone(status: str) -> None:
    assert liveness_target(State(status), now=1e9, last_heartbeat_at=0.0, lost_at=0.0,
                           timeout_s=1.0, window_s=1.0) is None
