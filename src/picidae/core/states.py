"""Run states and the transition table — the lifecycle as data.

The contract's diagram, as a table: each state maps to the states it may move to. Everything
that decides whether a run may move consults ``LEGAL`` (see ``lifecycle.decide``).
"""

from __future__ import annotations

from enum import StrEnum


class State(StrEnum):
    """A run's status. Lower-case strings on the wire, this enum in code."""

    QUEUED = "queued"
    PROVISIONING = "provisioning"
    SYNCING_DATA = "syncing_data"
    RUNNING = "running"
    EVALUATING = "evaluating"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELED = "canceled"
    LOST = "lost"
    ARCHIVED = "archived"


S = State

#: Terminal states: the run has ended; only ``archived`` may follow.
TERMINAL: frozenset[State] = frozenset({S.COMPLETED, S.FAILED, S.CANCELED})

#: States in which a run is expected to heartbeat; silence turns them ``lost``.
LIVE: frozenset[State] = frozenset({S.RUNNING, S.EVALUATING})

#: States a worker holds a run in before its command runs. A claim starts the heartbeat
#: clock; a claimed run silent past the timeout fails (reason ``lost``): ``lost`` itself is
#: only for live runs.
LEASED: frozenset[State] = frozenset({S.PROVISIONING, S.SYNCING_DATA})

#: Not yet ended (a process may attach to these by id).
UNFINISHED: frozenset[State] = frozenset(
    {S.QUEUED, S.PROVISIONING, S.SYNCING_DATA, S.RUNNING, S.EVALUATING, S.LOST}
)

_ENDINGS = {S.FAILED, S.CANCELED}

#: The transition table. ``lost`` may return to ``running`` or ``evaluating`` (a heartbeat
#: returns it to the state it was lost from; ``lifecycle.decide`` enforces which).
LEGAL: dict[State, frozenset[State]] = {
    S.QUEUED: frozenset({S.PROVISIONING, S.SYNCING_DATA, S.RUNNING, *_ENDINGS}),
    S.PROVISIONING: frozenset({S.SYNCING_DATA, S.RUNNING, *_ENDINGS}),
    S.SYNCING_DATA: frozenset({S.RUNNING, *_ENDINGS}),
    S.RUNNING: frozenset({S.EVALUATING, S.COMPLETED, S.LOST, *_ENDINGS}),
    S.EVALUATING: frozenset({S.COMPLETED, S.LOST, *_ENDINGS}),
    S.LOST: frozenset({S.RUNNING, S.EVALUATING, *_ENDINGS}),
    S.COMPLETED: frozenset({S.ARCHIVED}),
    S.FAILED: frozenset({S.ARCHIVED}),
    S.CANCELED: frozenset({S.ARCHIVED}),
    S.ARCHIVED: frozenset(),
}

#: Finishing words accepted on input, stored as the canonical state.
SYNONYMS: dict[str, State] = {
    "finished": S.COMPLETED,
    "succeeded": S.COMPLETED,
    "success": S.COMPLETED,
    "interrupted": S.CANCELED,
    "abandoned": S.CANCELED,
}

#: Failure reasons named by the contract (any short word is accepted).
FAILURE_REASONS = ("crash", "lost", "timeout", "error")
