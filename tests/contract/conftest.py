"""Stores for the contract suite: one test body, run against every store.

``store_url`` is parametrized over ``sqlite`` (a temporary folder), ``postgresql`` (the
``pg_url`` fixture of ``tests/conftest.py``: a database created for this test session,
emptied before each test; it skips when PostgreSQL is unreachable, and fails under
``CI=true``) and ``http``: one real ``picidae server`` process per test session, over
loopback, backed by an embedded (SQLite) store. Each test gets a clean view of it: a token
of its own (``PICIDAE_TOKEN``) whose workspace no other test uses.

A body that cannot apply to the http store says why with ``@pytest.mark.not_http(reason)``.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from processes import ServerProcess

#: Tokens in the session server's token file: one (and one workspace) per http test.
HTTP_TOKENS = 3000


class SessionServer:
    """The http store's server: one process for the session, a fresh token per test."""

    def __init__(self, folder: Path) -> None:
        tokens = folder / "tokens"
        tokens.write_text("".join(f"contract-{i} ws-{i} write\n" for i in range(HTTP_TOKENS)))
        env = {k: v for k, v in os.environ.items() if not k.startswith("PICIDAE_")}
        env["PICIDAE_HOME"] = str(folder / "home")
        self.process = ServerProcess(str(folder / "store"), env, "--token-file", str(tokens),
                                     log=folder / "server.log")
        self._next = itertools.count()

    def token(self) -> str:
        """A token no other test of this session got (its workspace is empty)."""
        n = next(self._next)
        if n >= HTTP_TOKENS:
            raise RuntimeError("the contract server ran out of tokens: raise HTTP_TOKENS")
        return f"contract-{n}"


@pytest.fixture(scope="session")
def http_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SessionServer]:
    """The session's ``picidae server`` (started on first use)."""
    server = SessionServer(tmp_path_factory.mktemp("contract-http"))
    server.process.start()
    yield server
    server.process.stop()


@pytest.fixture(params=["sqlite", "postgresql", "http"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path,
              monkeypatch: pytest.MonkeyPatch) -> str:
    """Where the test's runs go: each test runs once per store."""
    if request.param == "sqlite":
        return str(tmp_path / "store")
    if request.param == "http":
        marker = request.node.get_closest_marker("not_http")
        if marker is not None:
            pytest.skip(f"not on http: {marker.args[0]}")
        server: SessionServer = request.getfixturevalue("http_server")
        monkeypatch.setenv("PICIDAE_TOKEN", server.token())
        return server.process.url
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def store_env(store_url: str, subprocess_env: dict[str, str]) -> dict[str, str]:
    """The environment for a child process using the test's store (with its token)."""
    env = {**subprocess_env, "PICIDAE_STORE": store_url}
    if os.environ.get("PICIDAE_TOKEN"):
        env["PICIDAE_TOKEN"] = os.environ["PICIDAE_TOKEN"]
    return env


# -- server processes (team mode) ---------------------------------------------------------

@pytest.fixture
def replicas(pg_url: str, subprocess_env: dict[str, str]) -> Iterator[Any]:
    """Start ``picidae server`` processes: ``replicas(n, store=pg_url, **env)``."""
    started: list[ServerProcess] = []

    def make(n: int = 1, store: str | None = None, **env: str) -> list[ServerProcess]:
        new = [ServerProcess(store or pg_url, {**subprocess_env, **env}) for _ in range(n)]
        threads = [threading.Thread(target=r.start) for r in new]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for r in new:  # a start that failed in its thread: fail here, with the reason
            if r.proc is None or r.proc.poll() is not None:
                r.start()
        started.extend(new)
        return new

    yield make
    for r in started:
        r.stop()
