"""``picidae compare``, ``history``, ``export``, ``import``, ``gc`` and ``lineage``."""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from picidae.cli.common import (
    JsonOpt,
    StoreOpt,
    console,
    duration,
    number,
    print_json,
    status_text,
)
from picidae.errors import InvalidInput
from picidae.store.registry import open_store

WhereOpt = Annotated[str | None, typer.Option("--where", "-w", help="A filter expression, "
                                              "e.g. 'config.lr = 0.01'.")]


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    if isinstance(value, bool):
        return str(value).lower()
    return number(value) if isinstance(value, float) else str(value)


# -- compare ----------------------------------------------------------------------------------

def compare(
    run_ids: Annotated[list[str], typer.Argument(metavar="ID ID...", help="Two or more runs.")],
    all_: Annotated[bool, typer.Option("--all", "-a", help="Show every row, not only the "
                                       "ones that differ.")] = False,
    json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Show what differs between runs: config, summary, final and best metrics, inputs,
    code, environment and command."""
    import picidae

    result = picidae.compare(run_ids, store=store, all=all_)
    if json:
        print_json(result)
        return
    runs = result["runs"]
    heads = [f"{r['id'][:8]}…{r['id'][-4:]}\n{r['name']}" for r in runs]
    pm = result["primary_metric"]
    if pm:
        best = result["winner"]
        who = next((h.replace("\n", " ") for r, h in zip(runs, heads, strict=True)
                    if r["id"] == best), None)
        console.print(f"primary metric [bold]{pm['name']}[/] ({pm['mode']}): "
                      + (f"[green]{who}[/] is better" if who else "no single best run"))
    shown = 0
    for section, rows in result["sections"].items():
        if not rows:
            continue
        table = Table(title=section, title_justify="left", header_style="bold", box=None,
                      pad_edge=False)
        table.add_column("key")
        for head in heads:
            table.add_column(head)
        for row in rows:
            cells = []
            for i, value in enumerate(row["values"]):
                text = _cell(value)
                if section == "metrics":
                    best = row["best"][i]
                    if best is not None and best != value:
                        text += f" (best {_cell(best)})"
                if row.get("better") == runs[i]["id"]:
                    text = f"[green]{text} ★[/]"
                cells.append(text)
            key = f"{row['key']} ({row['mode']})" if row.get("mode") else row["key"]
            table.add_row(Text(key), *cells)
            shown += 1
        console.print(table)
        console.print()
    same = sum(result["hidden"].values())
    if not shown:
        console.print("The runs do not differ in config, summary, metrics, inputs, code, "
                      "environment or command.")
    if same and not all_:
        console.print(f"[dim]{same} identical rows hidden (--all shows them)[/]")


# -- history ----------------------------------------------------------------------------------

def history(
    where: WhereOpt = None,
    by: Annotated[str | None, typer.Option("--by", help="Group by name, day or agent.")]
    = None,
    json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Totals per status, failure rate, mean/p50/p95 duration and cost."""
    import picidae

    result = picidae.history(where=where, by=by, store=store)
    if json:
        print_json(result)
        return
    table = Table(header_style="bold", box=None, pad_edge=False)
    for col in (by or "runs", "total", "completed", "failed", "canceled", "other",
                "failure rate", "mean", "p50", "p95", "cost"):
        table.add_column(col, justify="left" if col == (by or "runs") else "right")
    rows = [*result["groups"], {"group": "all", **result["total"]}] if by else \
        [{"group": "all", **result["total"]}]
    for item in rows:
        counts = item["statuses"]
        other = item["runs"] - sum(counts.get(s, 0) for s in ("completed", "failed",
                                                              "canceled"))
        rate = item["failure_rate"]
        spread = item["duration"]
        cost = item["cost"]
        table.add_row(
            Text(item["group"], style="bold" if item["group"] == "all" and by else ""),
            str(item["runs"]), str(counts.get("completed", 0)), str(counts.get("failed", 0)),
            str(counts.get("canceled", 0)), str(other),
            "-" if rate is None else f"{rate:.1%}", duration(spread["mean"]),
            duration(spread["p50"]), duration(spread["p95"]),
            f"{cost['total']:.2f}{' ' + cost['currency'] if cost['currency'] else ''}"
            if cost["runs"] else "-")
    console.print(table)
    reasons = result["total"]["failures"]
    if reasons:
        console.print("[dim]failures: " + ", ".join(f"{k} {v}" for k, v in reasons.items())
                      + "[/]")


# -- export and import ------------------------------------------------------------------------

def export(
    fmt: Annotated[str, typer.Option("--format", "-f", help="json, csv or parquet.")] = "json",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write here "
                                                "(default: stdout).")] = None,
    where: WhereOpt = None,
    status: Annotated[list[str] | None, typer.Option("--status", "-s",
                      help="Only runs in this state (repeatable).")] = None,
    name: Annotated[str | None, typer.Option("--name", "-n", help="Name or glob.")] = None,
    limit: Annotated[int, typer.Option("--limit", "-l", min=0, help="At most this many "
                                       "runs (0: all).")] = 0,
    all_: Annotated[bool, typer.Option("--all", "-a", help="Include archived runs.")] = False,
    bundle: Annotated[Path | None, typer.Option("--bundle", help="Write a full-fidelity "
                      "bundle (runs, metrics, logs, artifacts) to this new folder instead.")]
    = None,
    run_ids: Annotated[list[str] | None, typer.Option("--id", help="With --bundle: these "
                       "runs (repeatable; default: those --where selects).")] = None,
    json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Export the listing as a flat table (config, summary, final metrics), or a bundle
    that 'picidae import' loads into any store unchanged."""
    from picidae.analysis import bundle as bundles
    from picidae.analysis import export as flat
    from picidae.core.lifecycle import parse_state
    from picidae.store.base import RunQuery

    target = open_store(store)
    if bundle is not None:
        done = bundles.export_bundle(target, bundle, run_ids or None, where=where)
        if json:
            print_json(done)
        else:
            console.print(f"Exported {len(done['runs'])} runs and {done['blobs']} artifact "
                          f"blobs to {done['folder']}")
        return
    if fmt not in flat.FORMATS:
        raise InvalidInput(f"--format must be one of {', '.join(flat.FORMATS)}, got {fmt!r}",
                           field="format")
    query = RunQuery(where=where, name=name, limit=limit or None,
                     status=[parse_state(s).value for s in status] if status else None,
                     include_archived=all_ or bool(status))
    rows = flat.rows(target, query)
    if output is None:
        if fmt == "parquet" and sys.stdout.isatty():
            raise InvalidInput("parquet is binary: write it to a file with -o FILE",
                               field="output")
        flat.write(rows, fmt, sys.stdout.buffer)
        sys.stdout.flush()
        return
    with open(output, "wb") as out:
        n = flat.write(rows, fmt, out)
    print(f"Exported {n} runs to {output}", file=sys.stderr)


def import_(
    source: Annotated[str, typer.Argument(metavar="SOURCE", help="A bundle folder, an "
                      "MLflow mlruns folder or database (sqlite:///mlflow.db), a W&B wandb/ "
                      "folder or run folder, or a folder of TensorBoard logs.")],
    kind: Annotated[str | None, typer.Option("--from", help="bundle, mlflow, wandb or "
                    "tensorboard (default: bundle or mlflow, detected).")] = None,
    json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Import runs: a bundle from 'picidae export --bundle' (ids kept), MLflow runs (nested
    runs as children, params as config, metric history as points, tags as tags), W&B run
    folders or TensorBoard logs (docs/migrating.md). Runs already in the store are skipped;
    a damaged W&B or TensorBoard run is reported and skipped, the rest imported."""
    from picidae.analysis import bundle as bundles
    from picidae.analysis import mlflow

    target = open_store(store)
    if kind not in (None, "bundle", "mlflow", "wandb", "tensorboard"):
        raise InvalidInput(f"--from must be bundle, mlflow, wandb or tensorboard, got {kind!r}",
                           field="from")
    problems: list[str] = []
    if kind in ("wandb", "tensorboard"):
        from picidae.analysis import imported, tensorboard_import, wandb_import

        reader = wandb_import if kind == "wandb" else tensorboard_import
        runs, problems = reader.read(source)
        done = imported.import_runs(target, runs)
        origin = "W&B" if kind == "wandb" else "TensorBoard"
    elif kind == "mlflow" or (kind is None and mlflow.looks_like_mlflow(source)):
        files = mlflow.LocalFiles()
        runs_ = mlflow.read(source)
        done = bundles.import_payloads(target, mlflow.payloads(runs_, files), files)
        origin = "MLflow"
    else:
        done = bundles.import_bundle(target, source)
        origin = "the bundle"
    for problem in problems:
        print(f"skipped {problem}", file=sys.stderr)
    if json:
        print_json({**done, "problems": problems})
        return
    skipped = f"; {len(done['skipped'])} were there already" if done["skipped"] else ""
    if "points" in done:
        console.print(f"Imported {len(done['imported'])} runs from {origin}: {done['points']} "
                      f"points, {done['files']} files{skipped}.")
    else:
        console.print(f"Imported {len(done['imported'])} runs from {origin} ({done['blobs']} "
                      f"artifact blobs copied){skipped}.")


# -- retention --------------------------------------------------------------------------------

def gc(
    older_than: Annotated[str | None, typer.Option("--older-than", help="Only runs created "
                          "longer ago than this, e.g. 30d, 12h, or before a date "
                          "(2026-01-15).")] = None,
    keep_last: Annotated[int | None, typer.Option("--keep-last", min=0, help="Always keep "
                         "the newest N top-level runs.")] = None,
    status: Annotated[list[str] | None, typer.Option("--status", "-s", help="Only runs in "
                      "this state (repeatable; default: completed, failed, canceled, "
                      "archived).")] = None,
    where: WhereOpt = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print what would be removed; "
                       "remove nothing.")] = False,
    json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Delete old runs for good (for cron: no prompt): with their children, metrics, logs
    and the artifact blobs nothing else uses. Runs a kept run points at are kept."""
    from picidae.analysis import retention

    if older_than is None and keep_last is None:
        raise InvalidInput("say what to remove: --older-than 30d and/or --keep-last N",
                           field="older_than")
    target = open_store(store)
    result = retention.gc(target, older_than=older_than, keep_last=keep_last,
                          status=status or None, where=where, dry_run=dry_run)
    if json:
        print_json(result)
        return
    verb = "would remove" if dry_run else "removed"
    for root in result["roots"]:
        console.print(f"{verb} {root}")
    extra = len(result["deleted"]) - len(result["roots"])
    console.print(f"{'Would remove' if dry_run else 'Removed'} {len(result['roots'])} runs"
                  + (f" and {extra} runs under them" if extra else "")
                  + ("" if dry_run else f"; {len(result['blobs'])} artifact blobs freed")
                  + (f"; kept {len(result['kept'])} others a kept run needs"
                     if result["kept"] else "") + ".")


def remove_runs(run_ids: list[str], *, yes: bool, json: bool, store: str | None) -> None:
    """``picidae runs rm`` (registered in cli/runs.py)."""
    from picidae.analysis import retention

    target = open_store(store)
    plan = retention.remove(target, run_ids, dry_run=True)
    extra = len(plan["deleted"]) - len(set(run_ids))
    if not yes:
        if not _interactive():
            raise InvalidInput("refusing to delete runs without confirmation: pass --yes",
                               field="yes")
        what = f"{len(set(run_ids))} run(s)" + (f" and {extra} run(s) under them"
                                                 if extra > 0 else "")
        if not typer.confirm(f"Delete {what} for good, with metrics, logs and artifacts?",
                             default=False):
            raise typer.Abort()
    done = retention.remove(target, run_ids)
    if json:
        print_json(done)
        return
    for run_id in done["deleted"]:
        console.print(f"removed {run_id}")
    console.print(f"Removed {len(done['deleted'])} runs; {len(done['blobs'])} artifact blobs "
                  "freed.")


def _interactive() -> bool:
    """Whether a person can answer a prompt (stdin and stdout are terminals)."""
    return sys.stdin.isatty() and sys.stdout.isatty()


# -- lineage ----------------------------------------------------------------------------------

def lineage(
    run_id: Annotated[str, typer.Argument(metavar="ID", help="The run.")],
    json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Show a run's ancestors and descendants: parent, retries, replays and the runs whose
    outputs it used or that used its outputs; stale runs are marked."""
    import picidae

    graph = picidae.lineage(run_id, store=store)
    if json:
        print_json(graph)
        return
    nodes = {n["id"]: n for n in graph["nodes"]}

    def label(node_id: str, via: dict[str, Any] | None) -> Text:
        node = nodes.get(node_id, {"id": node_id})
        text = Text()
        if via is not None:
            rel = via["relation"]
            if rel == "data":
                rel = f"{via.get('name')} {via.get('version')}"
            text.append(f"[{rel}] ", style="dim")
        text.append(node_id, style="bold" if node_id == graph["run"] else "")
        text.append(f"  {node.get('name') or '(missing)'}  ")
        text.append_text(Text.from_markup(status_text(node.get("status") or "-")))
        if node.get("stale"):
            text.append(f"  stale: {node['stale']['reason']}", style="yellow")
        return text

    def grow(tree: Tree, node_id: str, up: bool, seen: set[str]) -> None:
        for edge in graph["edges"]:
            nxt = edge["from"] if up and edge["to"] == node_id else \
                edge["to"] if not up and edge["from"] == node_id else None
            if nxt is None or nxt in seen:
                continue
            depth = nodes.get(nxt, {}).get("depth", 0)
            if (depth >= 0) if up else (depth <= 0):
                continue
            seen.add(nxt)
            grow(tree.add(label(nxt, edge)), nxt, up, seen)

    ups = Tree(Text("ancestors", style="bold"))
    grow(ups, graph["run"], True, {graph["run"]})
    downs = Tree(label(graph["run"], None))
    grow(downs, graph["run"], False, {graph["run"]})
    if ups.children:
        console.print(ups)
    console.print(downs)
    if graph["truncated"]:
        console.print(f"[dim](stopped after {len(nodes)} runs)[/]")
