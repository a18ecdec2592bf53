"""Fixtures for the embedded store: a real SQLite file per test and a way to make runs; each
series test run twice, with Points built by the C accelerator and by the Python fallback."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, create_engine

from picidae.core.ids import new_id
from picidae.store import registry, series
from picidae.store.registry import open_store
from picidae.store.sql.migrate import MIGRATIONS
from picidae.store.sql.postgres import parse_url
from picidae.store.sql.sqlite import SqliteStore
from picidae.store.sql.store import SqlStore


@pytest.fixture
def store(store_dir: Path) -> SqliteStore:
    """An embedded store in its own folder (closed by the shared fixture after the test)."""
    opened = open_store(store_dir)
    assert isinstance(opened, SqliteStore)
    return opened


@pytest.fixture(params=["sqlite", "postgresql"])
def sql_store(request: pytest.FixtureRequest, store_dir: Path) -> SqlStore:
    """A SQL store on SQLite and on PostgreSQL (``pg_url``: skipped, or failed under CI, when
    no server)."""
    url = str(store_dir) if request.param == "sqlite" else request.getfixturevalue("pg_url")
    opened = open_store(url)
    assert isinstance(opened, SqlStore)
    return opened


@pytest.fixture
def new_run(store: SqliteStore) -> Callable[..., dict[str, Any]]:
    """Create a run record directly in the store; keyword arguments override fields."""

    def make(status: str = "running", **fields: Any) -> dict[str, Any]:
        now = time.time()
        run_id = new_id()
        record: dict[str, Any] = {
            "id": run_id, "name": "store/test", "status": status, "root_id": run_id,
            "trigger": "user", "attempt": 1, "created_at": now,
            "started_at": now if status != "queued" else None,
            "last_heartbeat_at": now if status != "queued" else None,
            "config": {}, "tags": [],
            "transitions": [] if status == "queued" else [
                {"from": "queued", "to": status, "at": now, "reason": "test", "actor": "test"}],
        }
        record.update(fields)
        return store.create_run(record)

    return make



class BlankStore:
    """An empty database (SQLite file or PostgreSQL): its store ``url``, an ``engine`` on it,
    and ``alembic`` to bring it to an old revision (or back) as a migration test needs."""

    def __init__(self, url: str, engine: Engine) -> None:
        self.url = url
        self.engine = engine

    def alembic(self, verb: str, rev: str, conn: Connection | None = None) -> None:
        """``alembic upgrade|downgrade REV``, in ``conn``'s transaction or one of its own."""
        from alembic import command
        from alembic.config import Config

        if conn is None:
            with self.engine.begin() as own:
                self.alembic(verb, rev, own)
            return
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        cfg.attributes["connection"] = conn
        getattr(command, verb)(cfg, rev)


@pytest.fixture(params=["sqlite", "postgresql"])
def blank_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[BlankStore]:
    """A ``BlankStore`` on SQLite, then on PostgreSQL."""
    if request.param == "sqlite":
        url = str(tmp_path / "store")
        (tmp_path / "store").mkdir()
        engine = create_engine(f"sqlite:///{tmp_path / 'store' / 'picidae.db'}")
    else:
        make: Callable[[], str] = request.getfixturevalue("fresh_pg_url")
        url = make()
        engine = create_engine(parse_url(url))
    yield BlankStore(url, engine)
    registry.close_all()
    engine.dispose()



@pytest.fixture
def accelerator() -> Callable[..., Iterator[Any]]:
    """The compiled ``picidae.store._points.zip_as``. Where the C accelerator did not build,
    the test skips with the reason; under ``CI=true`` it fails instead: CI installs with a
    compiler, so the accelerator must be there."""
    try:
        from picidae.store._points import zip_as
    except ImportError as exc:
        reason = (f"the C accelerator picidae.store._points is not built ({exc}); "
                  "`pip install -e .` builds it where a C compiler is found")
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI must test the C accelerator, but {reason}", pytrace=False)
        pytest.skip(reason)
    return zip_as


@pytest.fixture(params=["c", "python"])
def zip_builder(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The test runs once per way a series builds its Points: ``c`` (the accelerator; skips
    where it is not built, except under CI) and ``python`` (the fallback, forced)."""
    if request.param == "python":
        monkeypatch.setattr(series, "zip_as", series.zip_as_python)
    else:
        request.getfixturevalue("accelerator")
    return str(request.param)
