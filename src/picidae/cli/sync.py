"""``picidae sync``: upload what runs could not send (their spool under PICIDAE_HOME/spool)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from picidae.cli.common import JsonOpt, console, print_json


def sync(
    store: Annotated[str | None, typer.Option(
        "--store", help="Upload here instead of the store each run was recorded in (needed "
                        "when that URL held a password, which is never written to disk).")]
    = None,
    run_id: Annotated[list[str] | None, typer.Argument(
        help="Only these runs (default: every run with something left).")] = None,
    json: JsonOpt = False,
) -> None:
    """Upload metric points, log lines and final transitions that runs kept on disk because
    the store was unreachable. Safe to repeat: batches carry ids, so none is applied twice."""
    from picidae.errors import InvalidInput, StoreUnavailable
    from picidae.sdk.spool import SyncResult, recorded_store, spool_root, spooled_runs, upload
    from picidae.store.registry import open_store

    wanted = run_id or spooled_runs()
    results: list[SyncResult] = []
    for rid in wanted:
        target = store or recorded_store(rid)
        if not target or "***" in target:
            results.append(SyncResult(rid, target, errors=[
                "the store this run was recorded in is not known in full; pass --store URL"]))
            continue
        try:
            results.append(upload(rid, open_store(target)))
        except (StoreUnavailable, InvalidInput) as exc:
            results.append(SyncResult(rid, target, errors=[exc.message]))
    if json:
        print_json([r.to_dict() for r in results])
    elif not results:
        console.print(f"Nothing to upload ({spool_root()} holds no spooled runs).")
    else:
        table = Table("run", "store", "batches", "points", "log lines", "final transition",
                      "left", box=None)
        for r in results:
            table.add_row(r.run_id, r.store or "-", str(r.batches), f"{r.points:,}",
                          f"{r.lines:,}", r.ended or "-", str(r.left))
        console.print(table)
        for r in results:
            for error in r.errors:
                console.print(f"[red]{r.run_id}[/]: {error}")
    if any(r.errors or r.left for r in results):
        raise typer.Exit(1)
