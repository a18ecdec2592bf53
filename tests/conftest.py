"""Shared fixtures: every test gets its own embedded store and a clean PICIDAE_* environment;
PostgreSQL databases for the tests that run on every store (``pg_url``, ``fresh_pg_url``).

The PostgreSQL server is ``PICIDAE_TEST_PG``, else the local default. When it cannot be
reached the PostgreSQL tests skip with the reason, except under ``CI=true``, where they fail:
CI must not skip them.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from picidae.store import registry
from picidae.store.sql.tables import metadata

_VARS = ("PICIDAE_STORE", "PICIDAE_RUN_ID", "PICIDAE_HEARTBEAT_INTERVAL_S",
         "PICIDAE_HEARTBEAT_TIMEOUT_S", "PICIDAE_LOST_WINDOW_S", "PICIDAE_FLUSH_INTERVAL_S",
         "PICIDAE_DISABLED", "PICIDAE_BUFFER_MB", "PICIDAE_FINISH_TIMEOUT_S",
         "PICIDAE_SYSTEM_METRICS", "PICIDAE_SYSTEM_INTERVAL_S", "PICIDAE_NEW_RUN_DELAY_S")


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """PICIDAE_HOME in a temporary folder, no inherited PICIDAE_* settings, fresh SDK state."""
    for name in _VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PICIDAE_HOME", str(tmp_path / "home"))
    # System metrics (on by default) are tested in tests/sdk/test_system_metrics.py; elsewhere
    # a slow machine must not add system/* keys to a run whose metric keys a test checks.
    monkeypatch.setenv("PICIDAE_SYSTEM_METRICS", "0")
    import picidae.sdk.api as api

    monkeypatch.setattr(api, "_env_run_used", False)
    monkeypatch.setattr(api, "_enabled", None)
    yield
    from picidae.sdk.writer import writer

    for run in writer().runs():  # a test that left a run open must not leak it
        writer().unregister(run)
    registry.close_all()
    from picidae.artifacts import registry as artifact_stores

    artifact_stores.clear()


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    """A folder for an embedded store (created on first use)."""
    return tmp_path / "store"


@pytest.fixture
def subprocess_env(tmp_path: Path) -> dict[str, str]:
    """The environment for a child Python process using this checkout's picidae."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PICIDAE_")}
    env["PICIDAE_HOME"] = str(tmp_path / "home")
    env["PICIDAE_SYSTEM_METRICS"] = "0"  # as in this process (see _isolated_env)
    return env


# -- PostgreSQL ----------------------------------------------------------------------------

PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"PostgreSQL tests must run in CI, but {reason}", pytrace=False)
    pytest.skip(reason)


class PgServer:
    """The test PostgreSQL server: hands out empty databases (or, without the CREATEDB
    privilege, empty schemas in the given database) and drops them again."""

    def __init__(self, base_url: str) -> None:
        from sqlalchemy.engine import make_url

        self.base_url = base_url
        self._base = make_url("postgresql+psycopg://" + base_url.split("://", 1)[1])
        self._conninfo = self._base.set(drivername="postgresql").render_as_string(
            hide_password=False)
        self.use_schemas = False
        self.created: list[str] = []

    def _admin(self) -> Any:
        import psycopg

        return psycopg.connect(self._conninfo, autocommit=True, connect_timeout=5)

    def create(self) -> str:
        """A new, empty database (or schema); returns the ``postgresql://`` URL to it."""
        import psycopg
        from psycopg import errors, sql

        name = f"picidae_test_{secrets.token_hex(5)}"
        create = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        with self._admin() as admin:
            if not self.use_schemas:
                try:
                    # A natural-language collation, as production databases have: ordering
                    # that depends on it shows up here, not in a user's listing.
                    admin.execute(create + sql.SQL(
                        " TEMPLATE template0 ENCODING 'UTF8' LOCALE_PROVIDER icu "
                        "ICU_LOCALE 'en' LOCALE 'C.UTF-8'"))
                except errors.InsufficientPrivilege:
                    self.use_schemas = True
                except psycopg.Error:  # before PostgreSQL 15, or built without ICU
                    admin.execute(create)
            if self.use_schemas:
                admin.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
        self.created.append(name)
        if self.use_schemas:
            url = self._base.update_query_dict({"options": f"-csearch_path={name}"})
        else:
            url = self._base.set(database=name)
        return "postgresql://" + url.render_as_string(hide_password=False).split("://", 1)[1]

    def drop(self, url: str) -> None:
        """Drop what ``create`` made for ``url``."""
        from psycopg import sql

        name = next(n for n in self.created if n in url)
        with self._admin() as admin:
            if self.use_schemas:
                admin.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                    sql.Identifier(name)))
            else:
                admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(name)))
        self.created.remove(name)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """The PostgreSQL server under test, or a skip (a failure under ``CI=true``)."""
    base = os.environ.get("PICIDAE_TEST_PG") or PG_DEFAULT
    try:
        import psycopg
    except ImportError:
        _unavailable("psycopg is not installed (pip install -e '.[postgres]')")
    server = PgServer(base)
    try:
        with server._admin():
            pass
    except psycopg.OperationalError as exc:
        from picidae.store.sql.postgres import mask_url

        _unavailable(f"PostgreSQL at {mask_url(base)} is unreachable: "
                     f"{str(exc).strip().splitlines()[0]}")
    yield server
    for name in list(server.created):
        server.drop(name)


@pytest.fixture(scope="session")
def _pg_session_url(pg_server: PgServer) -> Iterator[str]:
    url = pg_server.create()
    yield url
    pg_server.drop(url)


def _empty_tables(url: str) -> None:
    """Delete every run of an earlier test (the schema, once made, stays)."""
    from sqlalchemy import create_engine, inspect, text

    from picidae.store.sql.postgres import parse_url

    engine = create_engine(parse_url(url))
    try:
        with engine.begin() as conn:
            present = set(inspect(conn).get_table_names())
            names = [t.name for t in metadata.sorted_tables if t.name in present]
            if names:
                conn.execute(text(f"TRUNCATE {', '.join(names)} RESTART IDENTITY"))
    finally:
        engine.dispose()


@pytest.fixture
def pg_url(_pg_session_url: str) -> str:
    """The session's PostgreSQL database, with no runs in it."""
    _empty_tables(_pg_session_url)
    return _pg_session_url


@pytest.fixture
def fresh_pg_url(pg_server: PgServer) -> Iterator[Callable[[], str]]:
    """A factory of new, empty PostgreSQL databases (dropped after the test)."""
    made: list[str] = []

    def make() -> str:
        made.append(pg_server.create())
        return made[-1]

    yield make
    registry.close_all()
    for url in made:
        pg_server.drop(url)


@pytest.fixture
def script_env(subprocess_env: dict[str, str]) -> dict[str, str]:
    """The environment ``run_script`` starts from (a folder's conftest may narrow it)."""
    return subprocess_env


@pytest.fixture
def write_script(tmp_path: Path) -> Callable[[str], Path]:
    """Write a dedented Python snippet to a file and return its path."""
    count = 0

    def write(code: str) -> Path:
        nonlocal count
        count += 1
        path = tmp_path / f"script_{count}.py"
        path.write_text(textwrap.dedent(code))
        return path

    return write


@pytest.fixture
def run_script(write_script: Callable[[str], Path],
               script_env: dict[str, str]) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run a snippet in a fresh interpreter; ``env`` adds variables, ``args`` are argv."""

    def run(code: str, *args: str, env: dict[str, str] | None = None, timeout: float = 60,
            cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        path = write_script(code)
        return subprocess.run([sys.executable, str(path), *args],
                              env={**script_env, **(env or {})}, capture_output=True,
                              text=True, timeout=timeout, cwd=cwd, check=False)

    return run
