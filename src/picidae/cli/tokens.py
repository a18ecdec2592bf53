"""``picidae token create/list/revoke``: API tokens kept (hashed) in the server's database."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from picidae.cli.common import JsonOpt, StoreOpt, ago, console, print_json

if TYPE_CHECKING:
    from picidae.store.capabilities import TokenBook

app = typer.Typer(help="API tokens in the server's database (used with or instead of "
                       "--token-file).", no_args_is_help=True)


def _table(store: str | None) -> TokenBook:
    from picidae.errors import InvalidInput
    from picidae.store.capabilities import TokenStore
    from picidae.store.registry import open_store

    target = open_store(store)
    if not isinstance(target, TokenStore):
        raise InvalidInput("tokens live in the server's database: pass --store with its "
                           "postgresql://... URL (or the embedded store's folder)",
                           field="store")
    return target.tokens()


@app.command("create")
def create(
    workspace: Annotated[str, typer.Option("--workspace", "-w",
                                           help="The workspace the token acts in.")],
    role: Annotated[str, typer.Option("--role", help="read or write.")],
    name: Annotated[str | None, typer.Option("--name", help="A label (who or what uses "
                                                            "it).")] = None,
    json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Create a token and print it once: it is stored only as a hash."""
    token, record = _table(store).create(workspace, role, name)
    if json:
        print_json({**record, "token": token})
        return
    print(token, flush=True)  # alone on stdout, so a script can capture it
    print(f"picidae: token {record['id']} for workspace {workspace!r} ({role}); it is shown "
          "only this once, keep it now", file=sys.stderr)


@app.command("list")
def list_tokens(json: JsonOpt = False, store: StoreOpt = None) -> None:
    """Every token (never the token itself): id, name, workspace, role, created, revoked."""
    rows = _table(store).list()
    if json:
        print_json(rows)
        return
    if not rows:
        console.print("No tokens in this database (create one with 'picidae token create').")
        return
    table = Table("id", "name", "workspace", "role", "created", "revoked", box=None)
    for r in rows:
        table.add_row(r["id"], r["name"] or "-", r["workspace"], r["role"],
                      ago(r["created_at"]), ago(r["revoked_at"]) if r["revoked_at"] else "-")
    console.print(table)


@app.command("revoke")
def revoke(
    token_id: Annotated[str, typer.Argument(metavar="ID", help="The token's id.")],
    json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Revoke a token: servers refuse it (401) within a few seconds."""
    row = _table(store).revoke(token_id)
    if json:
        print_json(row)
    else:
        console.print(f"Revoked token {row['id']} ({row['workspace']}, {row['role']}).")
