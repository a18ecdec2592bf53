"""Server fixtures: an in-process app (fast API tests) and a real ``picidae server`` process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from picidae.server.app import create_app


@pytest.fixture
def client(store_dir: Path) -> Iterator[TestClient]:
    """The API in-process over an embedded store, watchdog off."""
    with TestClient(create_app(str(store_dir), watchdog=False)) as c:
        yield c


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerProcess:
    """A ``picidae server`` subprocess on loopback."""

    def __init__(self, store: str, env: dict[str, str], *args: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.store = store
        self.env = env
        self.args = args
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> ServerProcess:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "picidae", "server", "--store", self.store, "--port",
             str(self.port), *self.args], env=self.env, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE)
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                raise RuntimeError(f"server exited: {err}")
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


def env_with(**values: str) -> dict[str, str]:
    return {**os.environ, **values}
