"""Stores for the contract suite: one test body, run against every store.

``store_url`` is parametrized over ``sqlite`` (a temporary folder) and ``postgresql`` (the
``pg_url`` fixture of ``tests/conftest.py``: a database created for this test session,
emptied before each test; it skips when PostgreSQL is unreachable, and fails under
``CI=true``).
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where the test's runs go: each test runs once per store."""
    if request.param == "sqlite":
        return str(tmp_path / "store")
    return str(request.getfixturevalue("pg_url"))


# -- server processes (team mode) ---------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Replica:
    """A ``picidae server`` process on loopback."""

    def __init__(self, store: str, env: dict[str, str]) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.store, self.env = store, env
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Replica:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "picidae", "server", "--store", self.store, "--port",
             str(self.port)], env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.proc.stderr.read().decode()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError("server did not start in 30 s")

    def stop(self, kill: bool = False) -> None:
        if self.proc and self.proc.poll() is None:
            if kill:
                self.proc.kill()
            else:
                self.proc.terminate()
            self.proc.wait(timeout=15)
        if self.proc and self.proc.stderr:
            self.proc.stderr.close()


@pytest.fixture
def replicas(pg_url: str, subprocess_env: dict[str, str]) -> Iterator[Any]:
    """Start ``picidae server`` processes: ``replicas(n, store=pg_url, **env)``."""
    started: list[Replica] = []

    def make(n: int = 1, store: str | None = None, **env: str) -> list[Replica]:
        new = [Replica(store or pg_url, {**subprocess_env, **env}) for _ in range(n)]
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
