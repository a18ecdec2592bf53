"""Deciding transitions: pure functions over the table in ``states``.

A request to move returns a ``Decision`` (accept or reject, with the reason) rather than
raising, so two workers racing for one run is an ordinary outcome. ``require`` turns a
rejection into ``IllegalTransition`` for callers that want the exception.
"""

from __future__ import annotations

from dataclasses import dataclass

from picidae.core.states import LEASED, LEGAL, LIVE, SYNONYMS, State
from picidae.errors import IllegalTransition, InvalidInput


def parse_state(value: str | State) -> State:
    """The canonical ``State`` for a name or synonym; ``InvalidInput`` for an unknown word."""
    if isinstance(value, State):
        return value
    if not isinstance(value, str):
        raise InvalidInput(f"a state must be a string, got {type(value).__name__}", field="to")
    word = value.strip().lower()
    if word in SYNONYMS:
        return SYNONYMS[word]
    try:
        return State(word)
    except ValueError:
        names = ", ".join(s.value for s in State)
        raise InvalidInput(f"unknown state {value!r}; states are: {names}", field="to") from None


@dataclass(frozen=True)
class Decision:
    """The answer to "may this run move from ``current`` to ``target``?"."""

    accepted: bool
    current: State
    target: State
    why: str = ""

    @property
    def legal(self) -> frozenset[State]:
        """The states ``current`` may move to."""
        return LEGAL[self.current]


def decide(current: State, target: State, *, lost_from: State | None = None) -> Decision:
    """Accept or reject a move. ``lost_from`` is the state a ``lost`` run was lost from: the
    guard ``recover_to_lost_from`` only lets it return there (a run lost while evaluating
    must not silently go back to running)."""
    if target not in LEGAL[current]:
        return Decision(False, current, target, "not in the transition table")
    if current is State.LOST and target in LIVE and lost_from is not None and target != lost_from:
        return Decision(False, current, target, f"a lost run returns only to {lost_from.value!r}")
    return Decision(True, current, target)


def require(run_id: str, current: State, target: State, *, lost_from: State | None = None) -> None:
    """Raise ``IllegalTransition`` (naming current, asked and legal targets) unless allowed."""
    decision = decide(current, target, lost_from=lost_from)
    if not decision.accepted:
        legal = set(LEGAL[current])
        if current is State.LOST and lost_from is not None:
            legal = (legal - LIVE) | {lost_from}
        raise IllegalTransition(run_id, current.value, target.value, [s.value for s in legal])


def liveness_target(
    status: State,
    *,
    now: float,
    last_heartbeat_at: float | None,
    lost_at: float | None,
    timeout_s: float,
    window_s: float,
    claimed: bool = False,
) -> State | None:
    """What the heartbeat watchdog does to a run: ``lost`` for a live run silent longer than
    ``timeout_s``; ``failed`` for a run lost longer than ``window_s``, or ``claimed`` by a
    worker that went silent longer than ``timeout_s`` before its command ran
    (``provisioning``, ``syncing_data``); otherwise ``None``."""
    if status in LIVE and last_heartbeat_at is not None and now - last_heartbeat_at > timeout_s:
        return State.LOST
    if claimed and status in LEASED and last_heartbeat_at is not None \
            and now - last_heartbeat_at > timeout_s:
        return State.FAILED
    if status is State.LOST and lost_at is not None and now - lost_at > window_s:
        return State.FAILED
    return None
