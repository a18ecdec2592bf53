"""Fixtures for running work: fast worker knobs, the CLI in a subprocess, scripts, waiting,
a store per kind (SQLite, PostgreSQL) and a real HTTP server on a socket."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# The PostgreSQL fixtures (pg_server, pg_url) come from tests/conftest.py.

#: Knobs that keep workers quick in tests (and the SDK in their commands light).
FAST = {
    "PICIDAE_WORKER_POLL_S": "0.1",
    "PICIDAE_SAMPLE_INTERVAL_S": "0.2",
    "PICIDAE_CANCEL_GRACE_S": "2",
    "PICIDAE_CAPTURE_PACKAGES": "0",
    "PICIDAE_CAPTURE_GIT": "0",
    "PICIDAE_FLUSH_INTERVAL_S": "0.2",
}

_OWN = ("PICIDAE_MANAGED", "PICIDAE_SEED", "PICIDAE_WORKDIR", "PICIDAE_INPUTS",
        "PICIDAE_PRICES", "PICIDAE_COMPUTE_TARGET", "PICIDAE_ARTIFACTS")


@pytest.fixture(autouse=True)
def _fast_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _OWN:
        monkeypatch.delenv(name, raising=False)
    for name, value in FAST.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def env(subprocess_env: dict[str, str]) -> dict[str, str]:
    """The environment of CLI and worker subprocesses."""
    return {**{k: v for k, v in subprocess_env.items() if k not in _OWN}, **FAST}


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each test runs once per store."""
    if request.param == "sqlite":
        return str(tmp_path / "store")
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """An embedded store in a temporary folder."""
    return str(tmp_path / "store")


Cli = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def cli(env: dict[str, str], tmp_path: Path) -> Cli:
    """Run ``picidae ARGS...`` in a subprocess; ``check`` asserts it exits 0."""

    def run(*args: str, extra_env: dict[str, str] | None = None, check: bool = True,
            timeout: float = 60, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run([sys.executable, "-m", "picidae", *args],
                              env={**env, **(extra_env or {})}, capture_output=True,
                              text=True, timeout=timeout, cwd=cwd or tmp_path)
        if check:
            assert proc.returncode == 0, f"picidae {' '.join(args)}:\n{proc.stderr}"
        return proc

    return run


@pytest.fixture
def start_worker(env: dict[str, str], tmp_path: Path) -> Iterator[Callable[..., Any]]:
    """Start ``picidae worker ARGS...`` processes; any left running are killed at the end."""
    procs: list[subprocess.Popen[str]] = []

    def start(*args: str, extra_env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        proc = subprocess.Popen([sys.executable, "-m", "picidae", "worker", *args],
                                env={**env, **(extra_env or {})}, cwd=tmp_path,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=10)


@pytest.fixture
def script(write_script: Callable[[str], Path]) -> Callable[[str], str]:
    """Write a dedented Python program; returns its path (as a string, for argv)."""
    return lambda code: str(write_script(code))


def wait_for(predicate: Callable[[], Any], timeout: float = 20, every: float = 0.05) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout``."""
    deadline = time.time() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {predicate}")
        time.sleep(every)


def pid_alive(pid: int) -> bool:
    """Whether a process exists (and is not a zombie)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


class LiveServer:
    """``create_app`` served by uvicorn on a loopback socket, in a thread."""

    def __init__(self, store: str) -> None:
        import socket

        import uvicorn

        from picidae.server.app import create_app

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        config = uvicorn.Config(create_app(store), host="127.0.0.1", port=port,
                                log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        wait_for(lambda: self.server.started, timeout=20)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[LiveServer]:
    """A Picidae server over an embedded store, on a real socket."""
    with LiveServer(str(tmp_path / "server-store")) as srv:
        yield srv
