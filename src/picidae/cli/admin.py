"""``picidae db upgrade``: bring a store's schema to this Picidae's version."""

from __future__ import annotations

import typer

from picidae.cli.common import JsonOpt, StoreOpt, console, print_json

db = typer.Typer(help="Database administration.", no_args_is_help=True)


@db.command("upgrade")
def upgrade(json: JsonOpt = False, store: StoreOpt = None) -> None:
    """Apply pending schema migrations (a server does this when it starts)."""
    from picidae.store.registry import upgrade as upgrade_store

    before, after = upgrade_store(store)
    if json:
        print_json({"before": before, "after": after, "changed": before != after})
    elif before == after:
        console.print(f"The schema is up to date (revision {after}).")
    else:
        console.print(f"Upgraded the schema from {before or 'nothing'} to {after}.")
