"""``picidae.events()``: iterate over the live events stream of a store.

Through a server it reads the server's SSE stream; on a SQL store it reads the events log
gap-safely (``store.sql.event_log``), waking on ``NOTIFY`` on PostgreSQL and polling on
SQLite."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from picidae.errors import InvalidInput
from picidae.store.registry import open_store

POLL_S = 0.25
FALLBACK_S = 2.0  # with notifications (PostgreSQL), re-read the log at least this often


def events(store: Any = None, since: int | None = None, *, run_id: str | None = None,
           timeout: float | None = None) -> Iterator[dict[str, Any]]:
    """Yield events as they happen: ``{"id", "type", "run_id", "at", ...}`` with ``type`` one
    of ``run.created``, ``run.transition``, ``run.summary``, ``run.artifact``,
    ``run.deleted``.

    ``since`` resumes after that event id (``0``: from the first event; ``None``: from now).
    ``run_id`` keeps one run's events; ``timeout`` stops after that many idle seconds
    (``None``: never — break out of the loop when done).
    """
    if since is not None and (isinstance(since, bool) or not isinstance(since, int)
                              or since < 0):
        raise InvalidInput(f"since must be an event id (an int ≥ 0), got {since!r}",
                           field="since")
    target = open_store(store)
    stream = getattr(target, "stream_events", None)
    if stream is not None:  # a server pushes them (SSE)
        yield from stream(since=since, run_id=run_id, timeout=timeout)
        return
    from picidae.store.sql.event_log import EventReader

    reader = EventReader(target, target.last_event_id() if since is None else since,
                         run_id=run_id)
    factory = getattr(target, "event_listener", None)
    listener = factory() if factory is not None else None  # PostgreSQL: LISTEN, not sleep
    if listener is not None:
        listener.wait(0)  # listening before the first read: no event falls between
    idle_since = time.monotonic()
    try:
        while True:
            batch = reader.poll(500)
            for event in batch:
                yield {**event["payload"], "id": event["id"], "type": event["type"],
                       "run_id": event["run_id"], "at": event["at"]}
            now = time.monotonic()
            if batch or reader.holding:
                idle_since = now
            if batch:
                continue
            if timeout is not None and now - idle_since >= timeout:
                return
            wait = POLL_S if listener is None or reader.holding else FALLBACK_S
            if timeout is not None:
                wait = min(wait, max(0.01, timeout - (now - idle_since)))
            if listener is None:
                time.sleep(wait)
            else:
                listener.wait(wait)
    finally:
        if listener is not None:
            listener.close()
