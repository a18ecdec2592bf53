"""``picidae server`` and ``picidae ui``."""

from __future__ import annotations

import ipaddress
import threading
import time
import webbrowser
from typing import TYPE_CHECKING, Annotated

import typer

from picidae.cli.common import StoreOpt, console
from picidae.errors import InvalidInput

if TYPE_CHECKING:
    from picidae.store.base import Store

HostOpt = Annotated[str, typer.Option("--host", help="Address to listen on.")]
PortOpt = Annotated[int, typer.Option("--port", "-p", min=1, max=65535, help="Port.")]


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _has_db_tokens(store: Store) -> bool:
    from picidae.store.capabilities import TokenStore

    return isinstance(store, TokenStore) and store.tokens().exists()


def _check_port(host: str, port: int) -> None:
    """Fail with one line, before anything starts, when the port is taken."""
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise InvalidInput(f"cannot listen on {host}:{port} ({exc.strerror}); is another "
                               "Picidae already serving there? Pass --port N for another port",
                               field="port") from None


def _serve(store: str | None, host: str, port: int, *, token_file: str | None,
           insecure: bool, artifacts: str | None, open_browser: bool,
           workers: int = 1) -> None:
    import os

    import uvicorn

    from picidae.server.app import create_app
    from picidae.store.registry import open_store, resolve, upgrade

    if artifacts:
        os.environ["PICIDAE_ARTIFACTS"] = artifacts
    open_api = not token_file and not insecure and not _loopback(host)
    key = resolve(store)
    if key.split("://", 1)[0] in ("postgresql", "postgres", "postgresql+psycopg"):
        upgrade(key)  # a server migrates its database on start (clients never do)
    _check_port(host, port)
    target = open_store(key)
    if open_api and not _has_db_tokens(target):
        raise InvalidInput(f"refusing to serve {host} without tokens: pass --token-file F "
                           "(or create tokens with 'picidae token create'), or --insecure to "
                           "serve an open API on the network", field="host")
    app = create_app(target, token_file=token_file) if workers == 1 else None
    url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"
    console.print(f"Picidae on {url}  (store: {target.url}; API docs: {url}/docs)")
    if open_browser:
        def _open() -> None:
            time.sleep(1.0)
            webbrowser.open(url)

        threading.Thread(target=_open, daemon=True).start()
    if app is not None:
        from picidae.server.memory import tune_malloc

        tune_malloc()
        uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
        return
    # Several worker processes on one port: each builds its own app (``app.from_env``), as
    # replicas on one machine would; they share the store like any replicas do.
    target.close()
    os.environ["PICIDAE_SERVER_STORE"] = key
    if token_file:
        os.environ["PICIDAE_SERVER_TOKEN_FILE"] = os.path.abspath(token_file)
    uvicorn.run("picidae.server.app:from_env", factory=True, workers=workers, host=host,
                port=port, log_level="warning", access_log=False)


def server(
    host: HostOpt = "127.0.0.1",
    port: PortOpt = 8470,
    token_file: Annotated[str | None, typer.Option(
        "--token-file", help="Tokens, one 'TOKEN WORKSPACE read|write' a line.")] = None,
    insecure: Annotated[bool, typer.Option(
        "--insecure", help="Allow a non-loopback --host without tokens.")] = False,
    artifacts: Annotated[str | None, typer.Option(
        "--artifacts", help="Artifact storage: a folder or s3://bucket/prefix.")] = None,
    workers: Annotated[int, typer.Option(
        "--workers", min=1, max=64, help="Server processes on this port (replicas on one "
                                         "machine).")] = 1,
    store: StoreOpt = None,
) -> None:
    """Serve the HTTP API and the web UI over a store (PostgreSQL for a team)."""
    _serve(store, host, port, token_file=token_file, insecure=insecure, artifacts=artifacts,
           open_browser=False, workers=workers)


def ui(
    port: PortOpt = 8470,
    host: HostOpt = "127.0.0.1",
    no_open: Annotated[bool, typer.Option("--no-open", help="Don't open a browser.")] = False,
    store: StoreOpt = None,
) -> None:
    """Open the web UI on the embedded store (or --store), starting a local server."""
    _serve(store, host, port, token_file=None, insecure=False, artifacts=None,
           open_browser=not no_open)
