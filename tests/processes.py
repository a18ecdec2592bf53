"""Real processes the tests start: ``picidae server`` on a free loopback port, and a
webhook receiver on loopback."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

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


class Receiver:
    """A webhook receiver on 127.0.0.1 recording every POST as ``(path, body)``; it can be
    stopped and started again on the same port."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.posts: list[tuple[str, dict[str, Any]]] = []
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> Receiver:
        posts = self.posts

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                size = int(self.headers.get("content-length") or 0)
                posts.append((self.path, json.loads(self.rfile.read(size))))
                self.send_response(200)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def at(self, path: str) -> list[dict[str, Any]]:
        return [body for p, body in list(self.posts) if p == path]
