"""``picidae runs ls|show|edit|rm``, ``picidae archive`` and ``picidae restore``."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

import picidae
from picidae.cli.common import (
    JsonOpt,
    StoreOpt,
    ago,
    console,
    duration,
    number,
    print_json,
    status_text,
)
from picidae.sdk.view import RunView, iso

app = typer.Typer(help="List and inspect runs.", no_args_is_help=True)


def listing_row(rv: RunView, latest: dict[str, float]) -> dict[str, Any]:
    """One run of a listing as JSON: the run's fields and its latest metric values."""
    data = rv.to_dict(transitions=False)
    data["metrics"] = latest
    return data


@app.command("ls")
def ls(
    status: Annotated[list[str] | None, typer.Option("--status", "-s",
                      help="Only runs in this state (repeatable).")] = None,
    name: Annotated[str | None, typer.Option("--name", "-n",
                    help="Name or glob, e.g. 'cv/*'.")] = None,
    where: Annotated[str | None, typer.Option("--where", "-w",
                     help='Filter, e.g. \'config.lr = 0.01 and metrics.acc > 0.9\'.')] = None,
    kind: Annotated[str | None, typer.Option("--kind", help="Only runs of this kind.")] = None,
    parent: Annotated[str | None, typer.Option("--parent", help="Children of this run.")] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", "-t",
                   help="Runs carrying this tag (repeatable: all of them).")] = None,
    order_by: Annotated[str | None, typer.Option("--order-by",
                        help="e.g. 'metrics.acc desc' (default: newest first).")] = None,
    limit: Annotated[int, typer.Option("--limit", "-l", min=0,
                     help="At most this many runs (0: all).")] = 50,
    all_: Annotated[bool, typer.Option("--all", "-a", help="Include archived runs.")] = False,
    json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """List runs, newest first."""
    found = picidae.runs(store=store, status=status or None, name=name, where=where, kind=kind,
                         parent=parent, tags=tag or None, order_by=order_by,
                         limit=limit or None,
                         include_archived=all_ or bool(status))
    latest = found[0]._store.latest_metrics([r.id for r in found]) if found else {}
    if json:
        print_json([listing_row(r, latest.get(r.id, {})) for r in found])
        return
    if not found:
        console.print("No runs match. Record one with:\n\n"
                      "  import picidae\n"
                      "  with picidae.init(\"my/first-run\", config={\"lr\": 0.01}) as run:\n"
                      "      run.log(loss=0.5)\n\n"
                      "or fill a store with examples: picidae demo")
        return
    table = Table(box=None, header_style="bold", pad_edge=False)
    for col in ("ID", "NAME", "STATUS", "KIND", "CREATED", "DURATION", "PRIMARY METRIC"):
        table.add_column(col, no_wrap=col in ("ID", "STATUS"))
    for rv in found:
        pm = rv.primary_metric or {}
        primary = f"{pm['name']} {number(pm.get('best'))}" if pm.get("name") else "-"
        stale = " [yellow]stale[/]" if rv.stale else ""
        table.add_row(rv.id, Text(rv.name), status_text(rv.status) + stale, rv.kind or "-",
                      ago(rv._record["created_at"]), duration(rv.duration_s), primary)
    console.print(table)
    if limit and len(found) == limit:
        console.print(f"[dim](showing the first {limit}; --limit N for more)[/]")


def manifest(rv: RunView) -> dict[str, Any]:
    """A run's full record as JSON: fields, transitions, metrics, children, log size."""
    data = rv.to_dict()
    store = rv._store
    latest = store.latest_metrics([rv.id])[rv.id]
    data["metrics"] = {key: {"last": value} for key, value in sorted(latest.items())}
    kids = rv.children()
    data["children"] = [{"id": k.id, "name": k.name, "kind": k.kind, "status": k.status}
                        for k in kids]
    data["children_stats"] = rv.children_stats() if kids else {}
    data["artifacts"] = rv.artifacts()
    return data


@app.command("show")
def show(
    run_id: Annotated[str, typer.Argument(metavar="ID", help="The run's id.")],
    json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Show one run: fields, transitions, metrics, children."""
    rv = picidae.get_run(run_id, store=store)
    data = manifest(rv)
    if json:
        print_json(data)
        return
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column()
    head.add_row("status", status_text(rv.status))
    if rv.stale:
        head.add_row("stale", Text(rv.stale["reason"], style="yellow"))
    for field in ("alias", "kind", "parent_id", "trigger", "agent", "benchmark", "seed",
                  "evaluation"):
        value = data.get(field)
        if value not in (None, "", [], {}):
            head.add_row(field, Text(str(value)))
    head.add_row("created", f"{data['created_at']} ({ago(rv._record['created_at'])})")
    head.add_row("duration", duration(rv.duration_s))
    if rv.tags:
        head.add_row("tags", Text(", ".join(rv.tags)))
    if rv.command:
        head.add_row("command", Text(" ".join(rv.command)))
    pm = rv.primary_metric or {}
    agg = data["children_stats"].get(pm.get("name"))
    if pm.get("name") and pm.get("best") is not None:
        head.add_row("primary metric",
                     f"{pm['name']} ({pm['mode']}) best {number(pm.get('best'))} "
                     f"at step {pm.get('step')}")
    elif pm.get("name") and agg:
        head.add_row("primary metric",
                     f"{pm['name']} ({pm['mode']}) {number(agg['mean'])} ± {number(agg['std'])} "
                     f"across {agg['n']} children")
    if rv.progress:
        head.add_row("progress", Text(f"{rv.progress['fraction']:.0%} "
                                      f"{rv.progress.get('message') or ''}"))
    console.print(Panel(head, title=Text(f"{rv.name}  {rv.id}"), title_align="left"))
    if rv.failure:
        fail = rv.failure
        console.print(Panel(Text(f"{fail.get('reason')}: {fail.get('message') or ''}\n"
                                 f"{fail.get('traceback') or ''}".rstrip()),
                            title="failure", border_style="red", title_align="left"))
    if rv.notes:
        console.print(Panel(Text(rv.notes), title="notes", title_align="left"))
    moves = Table("at", "from", "to", "reason", "actor", title="transitions", box=None,
                  title_justify="left", header_style="bold")
    for t in data["transitions"]:
        moves.add_row(t["at"], t["from"] or "-", status_text(t["to"]), Text(t["reason"] or ""),
                      t["actor"] or "")
    console.print(moves)
    for section in ("config", "summary", "outputs"):
        values = data.get(section)
        if values:
            grid = Table(box=None, title=section, title_justify="left", show_header=False)
            from picidae.core.validation import flatten

            for key, value in flatten(values).items():
                grid.add_row(Text(key), Text(number(value)))
            console.print(grid)
    if data.get("inputs"):
        used = Table("input", "version", "digest", "uri", box=None, title="inputs",
                     title_justify="left", header_style="bold")
        for item in data["inputs"]:
            used.add_row(Text(item["name"]), Text(item.get("version") or "-"),
                         (item.get("digest") or "-")[:12], Text(item.get("uri") or "-"))
        console.print(used)
    if data["artifacts"]:
        from picidae.cli.artifacts import human_size

        arts = Table("artifact", "type", "size", "step", "digest", box=None, title="artifacts",
                     title_justify="left", header_style="bold")
        for art in data["artifacts"]:
            arts.add_row(Text(art["name"]), Text(art["type"] or "-"), human_size(art["size"]),
                         "-" if art["step"] is None else str(art["step"]), art["digest"][:12])
        console.print(arts)
    for warning in data.get("warnings") or []:
        console.print(Text(f"warning: {warning.get('message')}", style="yellow"))
    if data["metrics"]:
        grid = Table("metric", "last", box=None, title="metrics", title_justify="left",
                     header_style="bold")
        for key, value in data["metrics"].items():
            grid.add_row(Text(key), number(value["last"]))
        console.print(grid)
    if data["children"]:
        kids = Table("id", "name", "kind", "status", box=None, title="children",
                     title_justify="left", header_style="bold")
        for kid in data["children"]:
            kids.add_row(kid["id"], Text(kid["name"]), kid["kind"] or "-",
                         status_text(kid["status"]))
        console.print(kids)
        stats = Table("metric", "n", "mean ± std", "min", "max", box=None,
                      title="across children", title_justify="left", header_style="bold")
        for key, s in data["children_stats"].items():
            stats.add_row(Text(key), str(s["n"]), f"{number(s['mean'])} ± {number(s['std'])}",
                          number(s["min"]), number(s["max"]))
        console.print(stats)


@app.command("edit")
def edit(
    run_id: Annotated[str, typer.Argument(metavar="ID", help="The run to edit.")],
    alias: Annotated[str | None, typer.Option("--alias", help="A new alias ('' clears it).")]
    = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", "-t",
                   help="Add this tag (repeatable).")] = None,
    untag: Annotated[list[str] | None, typer.Option("--untag",
                     help="Remove this tag (repeatable).")] = None,
    notes: Annotated[str | None, typer.Option("--notes",
                     help="Replace the run's notes ('' clears them; '-' reads stdin).")]
    = None,
    json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Edit a run after the fact, in any state: its alias, tags and notes. Each edit is
    recorded in the run's edits."""
    if notes == "-":
        import sys

        notes = sys.stdin.read()
    rv = picidae.edit(run_id, alias=alias, add_tags=tag, remove_tags=untag, notes=notes,
                      store=store, actor="cli")
    if json:
        print_json(rv.to_dict(transitions=False))
        return
    console.print(f"edited {rv.id}: tags {', '.join(rv.tags) or '-'}"
                  + (f", alias {rv.alias}" if rv.alias else ""))


@app.command("rm")
def rm(
    run_ids: Annotated[list[str], typer.Argument(metavar="ID...", help="Runs to delete.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
    = False,
    json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Delete runs for good, with their children, metrics, logs and the artifact blobs
    nothing else uses (asks first, unless --yes)."""
    from picidae.cli.analysis import remove_runs

    remove_runs(run_ids, yes=yes, json=json, store=store)


def archive(
    run_ids: Annotated[list[str], typer.Argument(metavar="ID...", help="Runs to archive.")],
    json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Move finished runs out of default listings ('runs ls --all' still shows them)."""
    from picidae.store.registry import open_store

    target = open_store(store)
    done = []
    for run_id in run_ids:
        rec = target.transition(run_id, "archived", reason="archived by user", actor="cli")
        done.append({"id": rec["id"], "status": rec["status"],
                     "archived_at": iso(rec["transitions"][-1]["at"])})
    if json:
        print_json(done)
    else:
        for item in done:
            console.print(f"archived {item['id']}")


def restore(
    run_ids: Annotated[list[str], typer.Argument(metavar="ID...", help="Runs to restore.")],
    json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Return archived runs to the state they were archived from."""
    done = []
    for run_id in run_ids:
        rv = picidae.restore(run_id, store=store, actor="cli")
        done.append({"id": rv.id, "status": rv.status})
    if json:
        print_json(done)
    else:
        for item in done:
            console.print(f"restored {item['id']} ({item['status']})")
