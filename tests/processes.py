"""Real processes the tests start: ``picidae server`` on a free loopback port."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerProcess:
    """A ``picidae server`` subprocess on loopback. ``log`` keeps its output in a file
    (else stderr is read when it fails to start)."""

    def __init__(self, store: str, env: dict[str, str], *args: str,
                 log: Path | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.store = store
        self.env = env
        self.args = args
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def _output(self) -> str:
        if self.log is not None:
            return self.log.read_text(errors="replace")
        return self.proc.stderr.read().decode() if self.proc and self.proc.stderr else ""

    def start(self) -> ServerProcess:
        """Start (or restart, on the same port) and wait for ``/healthz``."""
        command = [sys.executable, "-m", "picidae", "server", "--store", self.store, "--port",
                   str(self.port), *self.args]
        if self.log is not None:
            with self.log.open("ab") as out:
                self.proc = subprocess.Popen(command, env=self.env, stdout=out,
                                             stderr=subprocess.STDOUT)
        else:
            self.proc = subprocess.Popen(command, env=self.env, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.PIPE)
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self._output()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError("server did not start in 30 s")

    def stop(self, kill: bool = False) -> None:
        """SIGTERM (or SIGKILL with ``kill``) and wait; SIGKILL if it lingers."""
        if self.proc and self.proc.poll() is None:
            if kill:
                self.proc.kill()
            else:
                self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        if self.proc and self.proc.stderr:
            self.proc.stderr.close()
