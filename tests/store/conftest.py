"""Fixtures for the embedded store: a real SQLite file per test and a way to make runs."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from picidae.core.ids import new_id
from picidae.store.registry import open_store
from picidae.store.sql.sqlite import SqliteStore


@pytest.fixture
def store(store_dir: Path) -> SqliteStore:
    """An embedded store in its own folder (closed by the shared fixture after the test)."""
    opened = open_store(store_dir)
    assert isinstance(opened, SqliteStore)
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
