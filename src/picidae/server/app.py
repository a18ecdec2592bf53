"""``create_app()``: the Picidae server as an ASGI application.

Stateless over its store: every replica on one PostgreSQL database serves the same runs, and
each runs its own watchdog (safe: moves are conditional updates).
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
from fastapi import FastAPI, Request, Response
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

import picidae
from picidae.executor.alerts import Deliverer
from picidae.executor.schedules import Scheduler
from picidae.server import errors
from picidae.server import mlflow as mlflow_api
from picidae.server.auth import Grant, Keyring, check, load_token_file
from picidae.server.beats import BeatRoute, Beats
from picidae.server.jsonresp import JSONResponse, NonFinite
from picidae.server.limits import BodyLimit
from picidae.server.notify import Notifier
from picidae.server.prom import StoreCollector
from picidae.server.routes import (
    actions,
    analysis,
    artifacts,
    events,
    flows,
    logs,
    metrics,
    queue,
    runs,
    ui_api,
)
from picidae.server.routes import (
    alerts as alert_routes,
)
from picidae.server.routes import (
    schedules as schedule_routes,
)
from picidae.server.watchdog import Watchdog
from picidae.store import openlineage
from picidae.store.base import RunQuery, Store
from picidae.store.capabilities import EventSource, TokenStore
from picidae.store.registry import open_store

DEFAULT_MAX_BODY_MB = 64.0


class Measure:
    """ASGI middleware counting requests and timing them, by method, route and status (plain
    ASGI: Starlette's ``BaseHTTPMiddleware`` costs more than a heartbeat does)."""

    def __init__(self, app: Any, *, requests: Any, latency: Any) -> None:
        self.app = app
        self.requests = requests
        self.latency = latency

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def sending(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            self.requests.labels(scope["method"], route, str(status)).inc()
            self.latency.labels(scope["method"], route).observe(time.perf_counter() - start)


def create_app(store: Store | str | Path | None = None, *, token_file: str | Path | None = None,
               tokens: dict[str, Grant] | None = None, watchdog: bool = True,
               max_body_mb: float | None = None, ui: bool = True,
               schedules: bool = True, alerts: bool = True) -> FastAPI:
    """The server for ``store`` (a store object, a URL or folder; ``None``: the default
    store). ``token_file`` (or tokens in the store's database) turns on tokens; ``watchdog``
    applies heartbeat timeouts on a timer; ``schedules`` fires the store's schedules; ``alerts``
    delivers its alerts (both for every workspace).
    """
    target = store if isinstance(store, Store) else open_store(store)
    grants = tokens if tokens is not None else (load_token_file(token_file)
                                                if token_file else None)
    keyring = Keyring(grants, target.tokens() if isinstance(target, TokenStore) else None)
    if max_body_mb is None:
        max_body_mb = float(os.environ.get("PICIDAE_MAX_BODY_MB") or DEFAULT_MAX_BODY_MB)
    dog = Watchdog(target) if watchdog else None
    scheduler = Scheduler(target) if schedules else None
    deliverer = Deliverer(target) if alerts else None
    notifier = Notifier(target)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if dog is not None:
            dog.start()
        if scheduler is not None:
            scheduler.start()
        if deliverer is not None:
            deliverer.start()
        notifier.start()
        try:
            yield
        finally:
            notifier.stop()
            if deliverer is not None:
                deliverer.stop()
            if scheduler is not None:
                scheduler.stop()
            if dog is not None:
                dog.stop()
            # Transitions committed just before the stop still leave (store/openlineage.py).
            await anyio.to_thread.run_sync(openlineage.drain_started)

    app = FastAPI(title="Picidae", version=picidae.__version__, lifespan=lifespan,
                  default_response_class=JSONResponse,
                  description="Record and run ML runs. See the project contract for names.")
    app.state.store = target
    app.state.tokens = keyring
    app.state.notifier = notifier
    app.state.beats = beats = Beats(target)
    if dog is not None:
        target.liveness_on_read = False  # the watchdog's timer does it
    errors.install(app)
    for module in (runs, actions, metrics, logs, events, ui_api, queue, flows, artifacts,
                   schedule_routes, alert_routes):
        app.include_router(module.router)
    app.include_router(analysis.router)
    mlflow_api.install(app)

    registry = CollectorRegistry()
    registry.register(StoreCollector(target))
    requests = Counter("picidae_http_requests_total", "HTTP requests",
                       ["method", "route", "status"], registry=registry)
    latency = Histogram("picidae_http_request_seconds", "HTTP request latency",
                        ["method", "route"], registry=registry,
                        buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
                                 2.5, 5, 10))

    @app.get("/healthz", tags=["meta"])
    def healthz() -> dict[str, Any]:
        """Liveness and the store's reachability (no token needed)."""
        if isinstance(target, EventSource):
            target.last_event_id()
        else:
            target.count_runs(RunQuery(limit=1))
        return {"status": "ok", "version": picidae.__version__}

    @app.get("/metrics", tags=["meta"], include_in_schema=False)
    def prometheus(request: Request) -> Response:
        """Request counts and latencies, runs by status, queue depths, points ingested and
        alerts delivered, in Prometheus' text format (with tokens on, for any token: give the
        scraper a read token)."""
        check(request, keyring, "read")
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    if ui:
        from picidae.server import ui as ui_routes

        ui_routes.install(app)
    app.add_middleware(BodyLimit, max_bytes=int(max_body_mb * 1024 * 1024))
    app.add_middleware(NonFinite)
    beat_route = next(r for r in runs.router.routes if getattr(r, "name", "") == "heartbeat")
    app.add_middleware(BeatRoute, store=target, tokens=keyring, beats=beats, route=beat_route)
    app.add_middleware(Measure, requests=requests, latency=latency)
    return app


def from_env() -> FastAPI:
    """The app of one worker of ``picidae server --workers N``: the store and token file come
    from ``PICIDAE_SERVER_STORE`` and ``PICIDAE_SERVER_TOKEN_FILE``."""
    from picidae.server.memory import tune_malloc

    tune_malloc()
    return create_app(os.environ.get("PICIDAE_SERVER_STORE") or None,
                      token_file=os.environ.get("PICIDAE_SERVER_TOKEN_FILE") or None)
