"""The SDK's analysis functions: ``compare``, ``history``, ``cleanup`` and ``lineage``.

Thin: each opens the store (``store=`` or ``PICIDAE_STORE``), writes out what this process
has buffered for it, and calls ``picidae.analysis``. Results are plain JSON-ready data.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from picidae.analysis import compare as _compare
from picidae.analysis import history as _history
from picidae.analysis import retention
from picidae.core.times import epoch
from picidae.sdk.writer import writer
from picidae.store.base import Store
from picidae.store.registry import StoreLocation, open_store


def _open(store: StoreLocation) -> Store:
    target = open_store(store)
    for run in writer().runs():
        if run.store is target:
            run.flush()
    return target


def compare(run_ids: Iterable[Any], *, store: StoreLocation = None,
            all: bool = False) -> dict[str, Any]:
    """What differs between two or more runs (ids or runs): config, summary, final and best
    metrics (with the better run by each metric's mode), inputs, code, environment and
    command. Only differing rows unless ``all``. See ``picidae.analysis.compare``."""
    ids = [getattr(r, "id", r) for r in ([run_ids] if isinstance(run_ids, str) else run_ids)]
    return _compare.compare(_open(store), ids, everything=all)


def history(where: str | None = None, by: str | None = None, *, store: StoreLocation = None,
            created_after: Any = None, created_before: Any = None) -> dict[str, Any]:
    """Totals per status, failure rate (failed among ended runs: cancellations are not
    failures), mean, p50 and p95 duration and total cost of the runs matching ``where``,
    overall and per ``by`` (``"name"``, ``"day"`` or ``"agent"``). ``created_after`` and
    ``created_before`` take a datetime, an ISO string or epoch seconds."""
    return _history.history(_open(store), where=where, by=by,
                            created_after=epoch(created_after, "created_after"),
                            created_before=epoch(created_before, "created_before"))


def cleanup(older_than: Any = None, keep_last: int | None = None, dry_run: bool = False, *,
            status: Iterable[str] | None = None, where: str | None = None,
            store: StoreLocation = None) -> list[str]:
    """Delete ended top-level runs created more than ``older_than`` ago (``"30d"``, seconds
    or a timedelta) or before it (a ``datetime``, or an ISO date such as ``"2026-01-15"``;
    naive means UTC, as ``datetime.utcnow()`` gives) beyond the newest ``keep_last``, with
    their children, metrics, logs and the artifact blobs nothing else references; nothing a
    kept run points at. Returns the ids removed (with ``dry_run``, those that would be)."""
    result = retention.gc(_open(store), older_than=older_than, keep_last=keep_last,
                          status=status, where=where, dry_run=dry_run)
    return list(result["deleted"])


def lineage(run_id: Any, *, store: StoreLocation = None, max_nodes: int = 500) -> dict[str, Any]:
    """The run's ancestors and descendants through parent, retry, replay and input/output
    versions: ``{run, nodes, edges, truncated}`` (see ``Store.lineage``)."""
    return _open(store).lineage(getattr(run_id, "id", run_id),
                                max_nodes=max_nodes)
