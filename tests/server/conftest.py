"""Server fixtures: an in-process app (fast API tests) and a real ``picidae server`` process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from workspaces import TOKENS

from picidae.server.app import create_app
from processes import ServerProcess


@pytest.fixture
def client(store_dir: Path) -> Iterator[TestClient]:
    """The API in-process over an embedded store, watchdog off."""
    with TestClient(create_app(str(store_dir), watchdog=False)) as c:
        yield c


@pytest.fixture
def server_factory(tmp_path: Path, subprocess_env: dict[str, str]) -> Iterator[object]:
    """Start real servers: ``server_factory(store=None, env=None, *args)``."""
    started: list[ServerProcess] = []

    def make(store: str | None = None, env: dict[str, str] | None = None,
             *args: str) -> ServerProcess:
        srv = ServerProcess(store or str(tmp_path / "server-store"),
                            {**subprocess_env, **(env or {})}, *args)
        started.append(srv.start())
        return srv

    yield make
    for srv in started:
        srv.stop()


@pytest.fixture
def server(server_factory: object) -> ServerProcess:
    """One running server over an embedded store."""
    return server_factory()  # type: ignore[operator,no-any-return]


@pytest.fixture
def two_workspaces(request: pytest.FixtureRequest, tmp_path: Path,
                   subprocess_env: dict[str, str]) -> Iterator[ServerProcess]:
    """A real server whose token file holds workspaces A and B (see ``TOKENS``), over an
    embedded store, or over PostgreSQL when parametrized indirectly with "postgresql"."""
    backing = getattr(request, "param", "sqlite")
    store = (request.getfixturevalue("pg_url") if backing == "postgresql"
             else str(tmp_path / "store"))
    tokens = tmp_path / "tokens"
    tokens.write_text(f"{TOKENS['a']} A write\n{TOKENS['a_read']} A read\n"
                      f"{TOKENS['b']} B write\n{TOKENS['b_read']} B read\n")
    srv = ServerProcess(store, subprocess_env, "--token-file", str(tokens))
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()
