"""``GET /api/v1/events``: every new run, transition, summary update and artifact, as
server-sent events with a resumable cursor.

Each event's SSE ``id`` is its position in the events log; reconnecting with
``Last-Event-ID`` (or ``?since=ID``) resumes right after it. Without a cursor the stream starts
at the present. Events written by another replica arrive too: the stream reads the shared
events log, gap-safely (``EventSource.event_reader``: an event whose transaction commits late
is never skipped), and on PostgreSQL it wakes on ``NOTIFY`` as soon as any replica commits an
event (``server.notify``) instead of polling.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Header, HTTPException, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import StreamingResponse

from picidae.errors import InvalidInput
from picidae.server.deps import Access, reader
from picidae.server.notify import POLL_S, Notifier
from picidae.server.schemas import ERRORS
from picidae.store.capabilities import EventSource
from picidae.store.wire import spell_nonfinite

router = APIRouter(prefix="/api/v1", tags=["events"], responses=ERRORS)

KEEPALIVE_S = 15.0


def _start(value: str | None, store: EventSource) -> int:
    if value is None or value == "":
        return int(store.last_event_id())
    try:
        cursor = int(value)
    except ValueError:
        raise InvalidInput(f"event cursor must be an event id (an integer), got {value!r}",
                           field="since") from None
    if not 0 <= cursor < 1 << 63:
        raise InvalidInput("event cursor must be an event id (0 or more, 64-bit)",
                           field="since")
    return cursor


def envelope(event: dict[str, Any]) -> dict[str, Any]:
    """An event as clients see it: its payload, then ``id``, ``type``, ``run_id`` and ``at``
    (which a payload can never overwrite)."""
    return {**event["payload"], "id": event["id"], "type": event["type"],
            "run_id": event["run_id"], "at": event["at"]}


def format_event(event: dict[str, Any]) -> bytes:
    """One event in SSE framing (NaN and infinities spelled as the API spells them)."""
    data = orjson.dumps(spell_nonfinite(envelope(event)))
    return b"id: %d\nevent: %s\ndata: %s\n\n" % (event["id"], event["type"].encode(), data)


@router.get("/events")
async def events(
    request: Request,
    access: Annotated[Access, Depends(reader)],
    since: Annotated[str | None, Query(description="Resume after this event id (0: all).")]
    = None,
    last_event_id: Annotated[str | None, Header()] = None,
    run_id: Annotated[str | None, Query(description="Only this run's events.")] = None,
    limit: Annotated[int | None, Query(ge=1, description="Close after this many events.")]
    = None,
    timeout: Annotated[float | None, Query(gt=0, le=86400,
                       description="Close after this many idle seconds.")] = None,
) -> StreamingResponse:
    """The live events stream (``text/event-stream``)."""
    store = access.store
    if not isinstance(store, EventSource):
        raise HTTPException(404, "this server's store keeps no events log")
    cursor = await run_in_threadpool(_start, last_event_id or since, store)
    log_reader = store.event_reader(cursor, run_id=run_id)
    notifier: Notifier = request.app.state.notifier

    async def stream() -> AsyncIterator[bytes]:
        sent = 0
        idle_since = time.monotonic()
        last_beat = time.monotonic()
        yield b": picidae events\nretry: 1000\n\n"
        while True:
            if await request.is_disconnected():
                return
            ticket = notifier.ticket()
            batch = await run_in_threadpool(log_reader.poll, 500)
            for event in batch:
                yield format_event(event)
                sent += 1
                if limit is not None and sent >= limit:
                    return
            now = time.monotonic()
            if batch or log_reader.holding:
                idle_since = now  # held-back events are not idleness
            if batch:
                continue
            if timeout is not None and now - idle_since >= timeout:
                return
            if now - last_beat >= KEEPALIVE_S:
                last_beat = now
                yield b": keepalive\n\n"
            wait = POLL_S if log_reader.holding else KEEPALIVE_S
            if timeout is not None:
                wait = min(wait, max(0.01, timeout - (now - idle_since)))
            await notifier.wait(ticket, wait)

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
