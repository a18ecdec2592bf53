"""The lifecycle's decisions and side effects: pure functions and rules over ``states``.

A request to move returns a ``Decision`` (accept or reject, with the reason) rather than
raising, so two workers racing for one run is an ordinary outcome. ``require`` turns a
rejection into ``IllegalTransition`` for callers that want the exception.

What an accepted move *does* besides changing the status is data too: ``MOVE_RULES``, small
named rules in the style of Prefect's orchestration rules, each with the states it applies
to and a docstring saying why it exists. ``effects`` runs them and returns the changes; a
store writes those and nothing else (``store/sql/moves.py`` for SQLite and PostgreSQL; the
HTTP store's server uses the same). Heartbeats (``on_heartbeat``), the lost window
(``lost_expired``), the watchdog (``liveness_target``) and writes to an ended run
(``write_refusal``) are decided here as well, so every store applies the same rules.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from picidae.core.states import LEASED, LEGAL, LIVE, SYNONYMS, TERMINAL, State
from picidae.errors import IllegalTransition, InvalidInput, RunFinished


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
    if status is State.LOST and lost_expired(lost_at, now, window_s):
        return State.FAILED
    return None


# -- what a move does -------------------------------------------------------------------

_ALL: frozenset[State] = frozenset(State)


@dataclass(frozen=True)
class RunFacts:
    """What the rules read of a run: its status and lifecycle columns."""

    id: str
    status: State
    started_at: float | None = None
    lost_from: State | None = None
    lost_at: float | None = None
    #: A worker took it from a queue (its executor may still record how it stopped it).
    claimed: bool = False


@dataclass
class Move:
    """One accepted move and the changes the rules make: ``columns`` (lifecycle columns of
    the run) and ``data`` (fields of the run's data document, e.g. ``failure``)."""

    run: RunFacts
    target: State
    at: float
    reason: str | None = None
    failure: dict[str, Any] | None = None
    columns: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)


class MoveRule:
    """A side effect of moves from one of ``from_states`` to one of ``to_states``."""

    from_states: frozenset[State] = _ALL
    to_states: frozenset[State] = _ALL

    def applies(self, move: Move) -> bool:
        """Whether this rule acts on ``move``."""
        return move.run.status in self.from_states and move.target in self.to_states

    def apply(self, move: Move) -> None:
        """Add this rule's changes to ``move``."""
        raise NotImplementedError


class StampStarted(MoveRule):
    """The first move into any state of work (``provisioning`` through ``evaluating``) sets
    ``started_at``: the run's duration counts from when work on it began, not from when it
    was queued, and a run that ends without ever starting has no start."""

    to_states = _ALL - TERMINAL - {State.LOST, State.ARCHIVED, State.QUEUED}

    def apply(self, move: Move) -> None:
        if move.run.started_at is None:
            move.columns["started_at"] = move.at


class StartHeartbeatClock(MoveRule):
    """Entering ``running`` or ``evaluating`` counts as a heartbeat, so a run that has just
    (re)started is not read as silent since its last beat in an earlier state."""

    to_states = LIVE

    def apply(self, move: Move) -> None:
        move.columns["last_heartbeat_at"] = move.at


class RememberLostFrom(MoveRule):
    """Entering ``lost`` records when and from where: a heartbeat returns the run to that
    state (``decide`` refuses any other), and the recovery window counts from ``lost_at``."""

    to_states = frozenset({State.LOST})

    def apply(self, move: Move) -> None:
        move.columns["lost_at"] = move.at
        move.columns["lost_from"] = move.run.status.value


class ForgetLostFrom(MoveRule):
    """Leaving ``lost`` (back to work, or to an ending) clears ``lost_at`` and
    ``lost_from``: they describe a lost run only."""

    from_states = frozenset({State.LOST})
    to_states = _ALL - {State.LOST}

    def apply(self, move: Move) -> None:
        move.columns["lost_at"] = None
        move.columns["lost_from"] = None


class StampEnded(MoveRule):
    """A terminal state sets ``ended_at``: the run's duration stops there, and from then on
    it takes no more writes (``write_refusal``)."""

    to_states = TERMINAL

    def apply(self, move: Move) -> None:
        move.columns["ended_at"] = move.at


class RecordFailure(MoveRule):
    """``failed`` always carries a ``failure`` with a ``reason`` (the move's reason, else
    ``error``), so failure rates and crash metrics can group by it."""

    to_states = frozenset({State.FAILED})

    def apply(self, move: Move) -> None:
        fail = dict(move.failure or {})
        fail.setdefault("reason", move.reason or "error")
        move.data["failure"] = fail


#: Every side effect of a move, in the order they apply.
MOVE_RULES: tuple[MoveRule, ...] = (StampStarted(), StartHeartbeatClock(), RememberLostFrom(),
                                    ForgetLostFrom(), StampEnded(), RecordFailure())


def effects(run: RunFacts, target: State, *, at: float, reason: str | None = None,
            failure: dict[str, Any] | None = None) -> Move:
    """Check the move (``IllegalTransition`` unless legal) and apply ``MOVE_RULES`` to it:
    the returned ``Move`` holds the column and data changes the store writes with the new
    status."""
    require(run.id, run.status, target, lost_from=run.lost_from)
    move = Move(run, target, at, reason, failure)
    for rule in MOVE_RULES:
        if rule.applies(move):
            rule.apply(move)
    return move


# -- heartbeats and the lost window -------------------------------------------------------

def lost_expired(lost_at: float | None, now: float, window_s: float) -> bool:
    """Whether a run lost at ``lost_at`` is past the recovery window at ``now``: then it
    fails (reason ``lost``) instead of returning on a heartbeat."""
    return lost_at is not None and now - lost_at > window_s


def lost_failure(message: str) -> dict[str, Any]:
    """The ``failure`` of a run the watchdog gave up on."""
    return {"reason": "lost", "message": message}


@dataclass(frozen=True)
class Beat:
    """What a heartbeat does: ``stamp`` (record it), or ``move`` the run to ``target``
    (a lost run returns, or fails past the window) with ``reason``, ``actor`` and
    ``failure``."""

    action: str
    target: State | None = None
    reason: str | None = None
    actor: str | None = None
    failure: dict[str, Any] | None = None


def on_heartbeat(run: RunFacts, *, at: float, window_s: float) -> Beat:
    """The heartbeat rules. An ended (or archived) run refuses it with ``RunFinished``; a
    ``lost`` run returns to the state it was lost from, unless the recovery window has
    passed, when it fails (reason ``lost``); any other run records it."""
    if run.status in TERMINAL or run.status is State.ARCHIVED:
        raise finished(run.id, run.status)
    if run.status is State.LOST:
        if lost_expired(run.lost_at, at, window_s):
            return Beat("move", State.FAILED, "lost", "watchdog", lost_failure(
                f"no heartbeat within the {window_s:g}s recovery window"))
        return Beat("move", run.lost_from or State.RUNNING, "heartbeat received", "heartbeat")
    return Beat("stamp")


def heartbeat_every(interval_s: float, timeout_s: float) -> float:
    """How often a live run heartbeats: the configured interval, but at least three beats
    per timeout, so a healthy run is never read as ``lost`` under a short timeout."""
    return max(0.05, min(interval_s, timeout_s / 3))


# -- writes to an ended run ---------------------------------------------------------------

#: Log stream and fields an executor writes about how it stopped a run that ended while its
#: command ran (canceled by a user, failed by the watchdog): the SIGTERM/SIGKILL notes and
#: the usage measured until the command exited.
EPILOGUE_STREAM = "worker"
EPILOGUE_FIELDS: frozenset[str] = frozenset({"compute", "resources", "cost"})


def finished(run_id: str, status: State | str) -> RunFinished:
    """The error every store raises for a write or heartbeat to an ended run."""
    state = State(status).value
    return RunFinished(f"run {run_id} has ended ({state}) and takes no more writes; start a "
                       f"new run, or 'picidae replay {run_id}' to run it again",
                       run_id=run_id, status=state)


def is_epilogue(*, streams: Iterable[str], fields: Iterable[str], data: bool) -> bool:
    """Whether a write is only an executor's epilogue: no metric points or merges
    (``data``), log lines on ``EPILOGUE_STREAM`` alone, fields among ``EPILOGUE_FIELDS``."""
    return not data and set(streams) <= {EPILOGUE_STREAM} and set(fields) <= EPILOGUE_FIELDS


def write_refusal(run: RunFacts, *, streams: Iterable[str] = (), fields: Iterable[str] = (),
                  data: bool = False) -> RunFinished | None:
    """Why a store refuses a write (metric points and ``data`` merges, log lines on
    ``streams``, ``fields``), or ``None`` when the run takes it. A run that has ended takes
    nothing, from any process: a second process (another rank, an orphaned command) must
    not add to a finished record. One exception, the executor's epilogue: the worker that
    held a claimed run records how it stopped the command after the run ended elsewhere —
    its own log lines (``EPILOGUE_STREAM``) and ``EPILOGUE_FIELDS``, nothing else
    (``is_epilogue``); the command's own output after the end is refused like any other."""
    if run.status not in TERMINAL and run.status is not State.ARCHIVED:
        return None
    if run.claimed and run.status in TERMINAL and is_epilogue(streams=streams, fields=fields,
                                                               data=data):
        return None
    return finished(run.id, run.status)


def artifact_refusal(run: RunFacts) -> RunFinished | None:
    """Why a store refuses a new artifact for ``run`` (``RunFinished``: it has ended), or
    ``None``. An artifact is a result, like a metric point: never part of an executor's
    epilogue, so a finished run keeps the artifacts it had when it ended — the SDK's
    ``finish()`` waits for its uploads before the final move. Only an import stores an
    ended run's own artifacts with it (``Store.add_artifact(..., backfill=True)``)."""
    return write_refusal(run, data=True)
