"""The lifecycle rules (``core/lifecycle.py``) as callers of a store apply them: a move
retried when the run was found ``lost``, and which batches a run that has ended takes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from picidae.core import lifecycle
from picidae.core.states import State
from picidae.errors import IllegalTransition, RunFinished
from picidae.store.base import Batch

T = TypeVar("T")


def retry_if_lost(store: Any, run_id: str, move: Callable[[], T]) -> T:
    """``move()``; when the store refuses it because the run is ``lost`` (our heartbeats
    lapsed while we were busy or the store was away), heartbeat — which returns the run to
    the state it was lost from — and try once more. The SDK's ``Run``, the spool's final
    transition and the worker's launcher all move runs through it."""
    try:
        return move()
    except IllegalTransition as exc:
        if exc.current != State.LOST.value:
            raise
    store.heartbeat(run_id)
    return move()


def _carries_data(batch: Batch) -> bool:
    return bool(batch.chunks or batch.config or batch.summary or batch.outputs
                or batch.heartbeat_at is not None)


def is_epilogue(batch: Batch) -> bool:
    """Whether ``batch`` is only what an executor records after its run ended elsewhere
    (``lifecycle.is_epilogue``): its own log lines and usage fields."""
    return lifecycle.is_epilogue(streams={ln.stream for ln in batch.logs},
                                 fields=batch.fields, data=_carries_data(batch))


def refusal(run: lifecycle.RunFacts, batch: Batch) -> RunFinished | None:
    """Why ``run`` does not take ``batch`` (``RunFinished``: it has ended), or ``None``. An
    import's ``backfill`` is the imported run's own data and always taken."""
    if batch.backfill:
        return None
    return lifecycle.write_refusal(run, streams={ln.stream for ln in batch.logs},
                                   fields=batch.fields, data=_carries_data(batch))
