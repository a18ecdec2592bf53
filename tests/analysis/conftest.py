"""Stores for the analysis tests: one test body, run against each kind of store.

``where_store_url`` is parametrized over ``sqlite`` (a folder per test) and ``postgresql``
(an empty database from the ``pg_url`` fixture of ``tests/conftest.py``, which skips when
PostgreSQL is unreachable and fails under ``CI=true``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from picidae.core.ids import new_id
from picidae.store.registry import open_store


@pytest.fixture(autouse=True)
def _quiet_capture(monkeypatch: pytest.MonkeyPatch) -> None:
    """Runs made with the SDK here record neither git state (this checkout's diff would be
    an artifact) nor the installed packages (slow, and not what these tests are about)."""
    monkeypatch.setenv("PICIDAE_CAPTURE_GIT", "0")
    monkeypatch.setenv("PICIDAE_CAPTURE_PACKAGES", "0")


@pytest.fixture(params=["sqlite", "postgresql"])
def where_store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty store, once per kind of store."""
    if request.param == "sqlite":
        return str(tmp_path / "store")
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def where_store(where_store_url: str) -> Any:
    """The store at ``where_store_url`` (closed by the shared fixture after the test)."""
    return open_store(where_store_url)


@pytest.fixture
def make_run(where_store: Any) -> Callable[..., dict[str, Any]]:
    """Create a run record directly in ``where_store`` (fixed times, no SDK); keyword
    arguments override fields."""

    def make(**fields: Any) -> dict[str, Any]:
        now = time.time()
        run_id = new_id()
        record: dict[str, Any] = {
            "id": run_id, "name": "analysis/test", "status": "completed", "root_id": run_id,
            "trigger": "user", "attempt": 1, "created_at": now, "started_at": now,
            "ended_at": now, "last_heartbeat_at": None, "config": {}, "summary": {},
            "tags": [], "transitions": [],
        }
        record.update(fields)
        return where_store.create_run(record)  # type: ignore[no-any-return]

    return make


class LiveServer:
    """``create_app`` over an embedded store, served by uvicorn on a loopback port in a
    thread: what ``store="http://..."`` talks to."""

    def __init__(self, store: str) -> None:
        import socket

        import uvicorn

        from picidae.server.app import create_app

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        config = uvicorn.Config(create_app(store, watchdog=False), host="127.0.0.1",
                                port=port, log_level="error", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.time() + 20
        while not self.server.started:
            if time.time() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture(params=["sqlite", "postgresql", "http"])
def any_store_url(request: pytest.FixtureRequest, tmp_path: Path,
                  monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """An empty store of each kind the SDK speaks to: embedded, PostgreSQL, and a Picidae
    server (over an embedded store; artifacts in a folder both sides share)."""
    monkeypatch.setenv("PICIDAE_ARTIFACTS", str(tmp_path / "artifacts"))
    if request.param == "sqlite":
        yield str(tmp_path / "store")
    elif request.param == "postgresql":
        yield str(request.getfixturevalue("pg_url"))
    else:
        with LiveServer(str(tmp_path / "server-store")) as live:
            yield live.url
