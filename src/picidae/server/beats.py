"""Heartbeats at thousands a second: one writer that coalesces them, one ASGI shortcut that
serves them.

Every running run heartbeats, so a busy server answers many more heartbeats than anything
else, and each is tiny: a conditional ``UPDATE`` (``store.heartbeat``). Served like any route,
most of its cost was FastAPI's (dependencies, body model, thread-pool hop: ~0.4 ms), and each
was a transaction of its own, taken in turn from several threads (SQLite's busy wait sleeps
1, 2, 5… ms between tries: the slow tail). So:

- ``Beats`` queues the heartbeats of every request and one writer thread records all that are
  waiting in **one transaction** (``BeatStore.heartbeat_many``; a store without it gets its
  ``heartbeat`` called per beat, on the same thread). A request is answered only **after that
  transaction committed**: an acknowledged heartbeat is as durable as one written alone. No
  timer: while one transaction commits the next requests gather, so an idle server writes
  each heartbeat at once and a busy one writes hundreds a transaction.
- ``BeatRoute`` answers ``POST /api/v1/runs/{run_id}/heartbeat`` below FastAPI when the
  request is the usual one (no body or ``{"at": …}``, JSON, a token that may write). Anything
  else (a bad body, no or a wrong token) goes on to the FastAPI route, untouched, which gives
  the same answers as before: 401/403, 404 for an unknown id, 403 for another workspace's run,
  409 (``RunFinished``) for an ended run, 422 for a bad body. The route awaits ``Beats`` too,
  so both paths record heartbeats the same way.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import time
from dataclasses import dataclass
from typing import Any

import orjson
from fastapi import HTTPException

from picidae.core.fields import clean_time
from picidae.errors import PicidaeError
from picidae.server import errors
from picidae.server.auth import Keyring, grant_for
from picidae.server.deps import bind
from picidae.store.base import Store
from picidae.store.capabilities import BeatStore

log = logging.getLogger("picidae.server")

Answer = str | Exception


@dataclass
class _Beat:
    store: Store
    workspace: str
    run_id: str
    at: float
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[str]


class Beats:
    """The server's heartbeat writer (see the module docstring). Its thread starts with the
    first heartbeat and ends after ``IDLE_S`` without one, so an idle server holds nothing."""

    #: Most heartbeats written in one transaction.
    MAX_BATCH = 1000
    #: Seconds an idle writer thread waits before it ends.
    IDLE_S = 5.0

    def __init__(self, store: Store) -> None:
        self.store = store
        self._many = store.heartbeat_many if isinstance(store, BeatStore) else None
        self._pending: list[_Beat] = []
        self._cond = threading.Condition()
        self._running = False
        self._idle = False  # the writer waits for work

    async def beat(self, store: Store, workspace: str, run_id: str, at: float | None) -> str:
        """``store.heartbeat(run_id, at)``, written with the heartbeats waiting beside it;
        returns (or raises) once committed. ``store`` is the server's, bound to
        ``workspace``."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[str] = loop.create_future()
        item = _Beat(store, workspace, run_id, time.time() if at is None else at, loop, future)
        with self._cond:
            self._pending.append(item)
            if self._idle:  # a busy writer looks again before it waits: no wake-up needed
                self._cond.notify()
            elif not self._running:
                self._running = True
                threading.Thread(target=self._write_loop, name="picidae-beats",
                                 daemon=True).start()
        return await future

    def _write_loop(self) -> None:
        while True:
            with self._cond:
                if not self._pending:
                    self._idle = True
                    self._cond.wait(self.IDLE_S)
                    self._idle = False
                if not self._pending:
                    self._running = False
                    return
                batch = self._pending[:self.MAX_BATCH]
                del self._pending[:self.MAX_BATCH]
            try:
                answers = self._write(batch)
            except Exception as exc:  # never strand a request
                log.exception("heartbeat writer")
                answers = [exc] * len(batch)
            _settle(batch, answers)

    def _write(self, batch: list[_Beat]) -> list[Answer]:
        if self._many is not None:
            return self._many([(b.workspace, b.run_id, b.at) for b in batch])
        answers: list[Answer] = []
        for b in batch:
            try:
                answers.append(b.store.heartbeat(b.run_id, b.at))
            except Exception as exc:
                answers.append(exc)
        return answers


def _settle(batch: list[_Beat], answers: list[Answer]) -> None:
    """Hand each answer to its request's event loop (one call per loop)."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future[str], Answer]]] = {}
    for item, answer in zip(batch, answers, strict=True):
        by_loop.setdefault(item.loop, []).append((item.future, answer))
    for loop, pairs in by_loop.items():
        try:
            loop.call_soon_threadsafe(_resolve, pairs)
        except RuntimeError:  # that loop has closed: nobody waits for these answers
            pass


def _resolve(pairs: list[tuple[asyncio.Future[str], Answer]]) -> None:
    for future, answer in pairs:
        if future.done():  # the request was cancelled
            continue
        if isinstance(answer, Exception):
            future.set_exception(answer)
        else:
            future.set_result(answer)


_PATH = re.compile(r"/api/v1/runs/([^/]+)/heartbeat")
#: A heartbeat body is ``{}`` or ``{"at": …}``; anything longer takes the FastAPI route.
_MAX_BODY = 1024


class BeatRoute:
    """ASGI middleware serving the usual heartbeat request itself (see the module
    docstring); ``route`` is the FastAPI route it stands in for (request metrics are counted
    under its path)."""

    def __init__(self, app: Any, *, store: Store, tokens: Keyring, beats: Beats,
                 route: Any) -> None:
        self.app = app
        self.store = store
        self.tokens = tokens
        self.beats = beats
        self.route = route

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        match = _PATH.fullmatch(scope["path"])
        if match is None:
            await self.app(scope, receive, send)
            return
        messages: list[dict[str, Any]] = []
        body = b""
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            body += message.get("body", b"")
            if not message.get("more_body", False) or len(body) > _MAX_BODY:
                break
        usual = (_usual(scope, body) if messages[-1]["type"] == "http.request"
                 and not messages[-1].get("more_body", False) else None)
        if usual is None:
            await self.app(scope, _replay(messages, receive), send)
            return
        authorization, at = usual
        try:
            grant = grant_for(authorization, self.tokens, "write")
            store = bind(self.store, grant.workspace)
        except HTTPException:  # the route answers it, as it always has
            await self.app(scope, _replay(messages, receive), send)
            return
        scope["route"] = self.route
        run_id = match.group(1)
        try:
            status = await self.beats.beat(store, grant.workspace, run_id, at)
        except PicidaeError as exc:
            response = await errors.picidae_response(self.store, grant.workspace, exc)
            await response(scope, receive, send)
            return
        # What JSONResponse({"id": run_id, "status": status}) sends, without building one.
        body = b'{"id":' + orjson.dumps(run_id) + b',"status":' + orjson.dumps(status) + b"}"
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", str(len(body)).encode()),
                                (b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": body})


def _usual(scope: dict[str, Any], body: bytes) -> tuple[str, float | None] | None:
    """``(Authorization header, at)`` of a heartbeat request the shortcut may serve, else
    ``None`` (the route then decides, with its own errors)."""
    authorization = ""
    content_type = None
    for name, value in scope["headers"]:
        if name == b"authorization":
            authorization = value.decode("latin-1")
        elif name == b"content-type":
            content_type = value.decode("latin-1")
    if not body:
        return authorization, None
    if content_type is not None \
            and content_type.split(";", 1)[0].strip().lower() != "application/json":
        return None
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(data, dict) or not set(data) <= {"at"}:
        return None
    at = data.get("at")
    if isinstance(at, bool) or not isinstance(at, int | float | str | None):
        return None
    try:
        return authorization, clean_time(at, "at")
    except PicidaeError:
        return None


def _replay(messages: list[dict[str, Any]], receive: Any) -> Any:
    """A ``receive`` giving ``messages`` again, then what ``receive`` gives."""
    queue = list(messages)

    async def replayed() -> dict[str, Any]:
        if queue:
            return queue.pop(0)
        message: dict[str, Any] = await receive()
        return message

    return replayed
