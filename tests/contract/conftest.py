"""Stores for the contract suite: one test body, run against every store.

``store_url`` is parametrized over ``sqlite`` (a temporary folder) and ``postgresql`` (the
``pg_url`` fixture of ``tests/conftest.py``: a database created for this test session,
emptied before each test; it skips when PostgreSQL is unreachable, and fails under
``CI=true``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from processes import ServerProcess


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where the test's runs go: each test runs once per store."""
    if request.param == "sqlite":
        return str(tmp_path / "store")
    return str(request.getfixturevalue("pg_url"))


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
