"""``picidae.events()``: iterate over the live events stream of a store.

Through a server it reads the server's SSE stream (``EventStream``); on a SQL store it reads
the events log gap-safely (``EventSource.event_reader``), waking on ``NOTIFY`` on PostgreSQL
(``EventNotifier``) and polling on SQLite."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from picidae.errors import InvalidInput
from picidae.store.capabilities import EventNotifier, EventSource, EventStream
from picidae.store.registry import open_store

POLL_S = 0.25
FALLBACK_S = 2.0  # with notifications (PostgreSQL), re-read the log at least this often


def events(store: str | Path | None = None, since: int | None = None, *,
           run_id: str | None = None,
           timeout: float | None = None) -> Iterator[dict[str, Any]]:
    """Yield events as they happen: ``{"id", "type", "run_id", "at", ...}`` with ``type`` one
    of ``run.created``, ``run.transition``, ``run.summary``, ``run.artifact``,
    ``run.edited`` (payload ``at``, ``actor``, ``changes``), ``run.deleted``.

    ``since`` resumes after that event id (``0``: from the first event; ``None``: from now).
    ``run_id`` keeps one run's events; ``timeout`` stops after that many idle seconds
    (``None``: never — break out of the loop when done).
    """
    if since is not None and (isinstance(since, bool) or not isinstance(since, int)
                              or since < 0):
        raise InvalidInput(f"since must be an event id (an int ≥ 0), got {since!r}",
                           field="since")
    target = open_store(store)
    if isinstance(target, EventStream):  # a server pushes them (SSE)
        yield from target.stream_events(since=since, run_id=run_id, timeout=timeout)
        return
    if not isinstance(target, EventSource):
        raise InvalidInput(f"the store {target.url} keeps no events log", field="store")
    reader = target.event_reader(target.last_event_id() if since is None else since,
                                 run_id=run_id)
    # PostgreSQL: LISTEN, not sleep
    listener = target.event_listener() if isinstance(target, EventNotifier) else None
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
