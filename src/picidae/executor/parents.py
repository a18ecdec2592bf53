"""The parent of submitted children (seeds, sweep points): started with its first child,
ended when its children are.

A group parent is never claimed by a worker (it has no queue). It moves to ``running`` when
a worker starts its first child, and the workers running its children heartbeat it. When
every child has ended it ends too — ``completed`` when all completed; otherwise ``failed``
(reason ``children``, naming the failed ones), or ``canceled`` when none failed but some
were canceled; with ``allow_failures`` always ``completed`` — and its summary gets
``children_stats`` of the children's final values.

Only the latest attempt of each child counts: a child superseded by a retry (``retry_of``)
is history. Whoever ends the last child settles the parent; two workers ending the last two
children at once both try, and the conditional move lets exactly one succeed.
"""

from __future__ import annotations

import logging
from typing import Any

from picidae.core.states import TERMINAL, UNFINISHED, State
from picidae.core.stats import children_stats
from picidae.errors import IllegalTransition, PicidaeError, RunFinished
from picidae.store.base import Batch, RunQuery, Store

log = logging.getLogger("picidae.worker")


def group_of(rec: dict[str, Any]) -> dict[str, Any] | None:
    """The group settings of a group parent (``children``, ``allow_failures``), else None."""
    execution = rec.get("execution") or {}
    group = execution.get("group") if isinstance(execution, dict) else None
    return group if isinstance(group, dict) else None


def latest_attempts(children: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The children no retry supersedes, oldest first."""
    retried = {c.get("retry_of") for c in children if c.get("retry_of")}
    return [c for c in children if c["id"] not in retried]


def start(store: Store, parent_id: str, actor: str) -> None:
    """Move a queued group parent to ``running`` (its first child is starting)."""
    try:
        store.transition(parent_id, State.RUNNING.value, reason="a child started",
                         actor=actor, expect={State.QUEUED.value})
    except IllegalTransition:
        pass  # running already, or ended: either way nothing to do


def settle(store: Store, parent_id: str | None, actor: str) -> str | None:
    """End the group parent ``parent_id`` if all its children have ended; returns the state
    it was moved to (``None``: not a group parent, not done, or settled by someone else)."""
    if parent_id is None:
        return None
    try:
        parent = store.get_run(parent_id)
    except PicidaeError:
        return None
    group = group_of(parent)
    if group is None or State(parent["status"]) not in UNFINISHED:
        return None
    kids = latest_attempts(store.list_runs(RunQuery(parent=parent_id,
                                                    order_by=[("created_at", False)])))
    if len(kids) < int(group.get("children") or 0):
        return None  # the submitter is still creating them
    if any(State(k["status"]) not in TERMINAL for k in kids):
        return None
    failed = [k for k in kids if k["status"] == State.FAILED.value]
    canceled = [k for k in kids if k["status"] == State.CANCELED.value]
    latest = store.latest_metrics([k["id"] for k in kids])
    try:
        store.write(parent_id, Batch(summary={"children_stats": children_stats(kids, latest)}))
        if State(parent["status"]) is State.LOST:  # its heartbeats lapsed between children
            store.heartbeat(parent_id)
        if State(parent["status"]) is State.QUEUED:
            store.transition(parent_id, State.RUNNING.value, reason="children ended",
                             actor=actor, expect={State.QUEUED.value})
        if failed and not group.get("allow_failures"):
            names = ", ".join(f"{k['name']} ({k['id']})" for k in failed)
            message = f"{len(failed)} of {len(kids)} children failed: {names}"
            store.transition(parent_id, State.FAILED.value, reason=f"children failed: {names}",
                             actor=actor, expect={State.RUNNING.value},
                             failure={"reason": "children", "message": message,
                                      "children": [k["id"] for k in failed]})
            return State.FAILED.value
        if canceled and not group.get("allow_failures"):
            names = ", ".join(f"{k['name']} ({k['id']})" for k in canceled)
            store.transition(parent_id, State.CANCELED.value,
                             reason=f"children canceled: {names}", actor=actor,
                             expect={State.RUNNING.value})
            return State.CANCELED.value
        done = len(kids) - len(failed) - len(canceled)
        store.transition(parent_id, State.COMPLETED.value,
                         reason=f"{done} of {len(kids)} children completed", actor=actor,
                         expect={State.RUNNING.value})
        return State.COMPLETED.value
    except (IllegalTransition, RunFinished) as exc:  # ended meanwhile: settled elsewhere
        log.debug("parent %s settled elsewhere: %s", parent_id, exc)
        return None
