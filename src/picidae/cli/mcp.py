"""``picidae mcp``: serve the Model Context Protocol, so an agent queries (and, when allowed,
submits and annotates) runs as tools. See docs/agents.md."""

from __future__ import annotations

from typing import Annotated

import typer

from picidae.cli.common import StoreOpt


def mcp(
    store: StoreOpt = None,
    allow_write: Annotated[bool, typer.Option(
        "--allow-write", help="Also offer submit_run, cancel_run, replay_run and edit_run.")]
    = False,
    http: Annotated[int | None, typer.Option(
        "--http", metavar="PORT", min=1, max=65535,
        help="Serve streamable HTTP on 127.0.0.1:PORT at /mcp instead of stdio.")] = None,
) -> None:
    """Serve runs to an MCP client (an agent): over stdio by default, read-only unless
    --allow-write. Register it with your client as the command 'picidae mcp'."""
    from picidae.agents.server import serve

    serve(store, allow_write=allow_write, http_port=http)
