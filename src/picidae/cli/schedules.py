"""``picidae schedule add|ls|rm|pause|resume``: commands (or flows) submitted on a cron
schedule, fired by whichever ``picidae server``, ``ui`` or ``worker`` is running."""

from __future__ import annotations

import os
import sys
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from picidae.cli.common import JsonOpt, StoreOpt, ago, console, error_text, print_json
from picidae.cli.exec import (
    AccountOpt,
    ExecutorOpt,
    PartitionOpt,
    RayAddressOpt,
    SetOpt,
    SlurmArgOpt,
)
from picidae.core.submission import parse_assignments
from picidae.errors import InvalidInput
from picidae.executor import schedules
from picidae.store.registry import open_store

app = typer.Typer(help="Commands (or flows) submitted on a cron schedule.",
                  no_args_is_help=True)

NameArg = Annotated[str, typer.Argument(metavar="NAME", help="The schedule's name.")]


@app.command("add")
def add(
    name: NameArg,
    command: Annotated[list[str] | None, typer.Argument(
        metavar="-- CMD...", help="The command, after '--' (or --flow).")] = None,
    cron: Annotated[str, typer.Option("--cron", help="Five fields (minute hour day month "
                                                     "weekday), or six with seconds last.")]
    = "",
    tz: Annotated[str | None, typer.Option("--tz", help="Time zone of the expression, e.g. "
                                                        "Europe/Berlin [default: UTC].")]
    = None,
    flow: Annotated[str | None, typer.Option("--flow", help="Submit this flow's latest "
                                                            "version instead of a command.")]
    = None,
    sets: SetOpt = None,
    seeds: Annotated[str | None, typer.Option("--seeds", help="42-46 or 1,2,3.")] = None,
    grid: Annotated[list[str] | None, typer.Option("--grid", help="KEY=A,B,C (repeatable).")]
    = None,
    cpus: Annotated[float | None, typer.Option("--cpus", min=0)] = None,
    gpus: Annotated[int | None, typer.Option("--gpus", min=0)] = None,
    memory: Annotated[str | None, typer.Option("--memory", help="e.g. 4G.")] = None,
    timeout: Annotated[str | None, typer.Option("--timeout", help="e.g. 2h.")] = None,
    queue: Annotated[str | None, typer.Option("--queue", "-q")] = None,
    retries: Annotated[int, typer.Option("--retries", min=0, max=100)] = 0,
    tags: Annotated[list[str] | None, typer.Option("--tag", "-t", help="Tag (repeatable).")]
    = None,
    executor: ExecutorOpt = "local",
    partition: PartitionOpt = None,
    account: AccountOpt = None,
    slurm_args: SlurmArgOpt = None,
    ray_address: RayAddressOpt = None,
    json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Submit a command (or --flow) at each slot of a cron expression."""
    spec: dict[str, Any] = {"config": parse_assignments(sets), "seeds": seeds, "grid": grid,
                            "cpus": cpus, "gpus": gpus, "memory": memory, "timeout": timeout,
                            "queue": queue, "retries": retries, "tags": tags,
                            "cwd": os.getcwd()}
    try:
        if not cron:
            raise InvalidInput("a schedule needs --cron EXPR (like '0 3 * * *')",
                               field="cron")
        found = schedules.add(name, cron, command=command or None, flow=flow, tz=tz,
                              spec=spec, store=store, executor=executor,
                              partition=partition, account=account, slurm_args=slurm_args,
                              ray_address=ray_address)
    except InvalidInput as exc:
        print(f"picidae: {error_text(exc)}", file=sys.stderr)
        raise typer.Exit(2) from None
    if json:
        print_json(found)
        return
    what = f"flow {found['flow']}" if found["flow"] else " ".join(found["spec"]["command"])
    console.print(f"schedule {found['name']}: {what} at '{found['cron']}' ({found['tz']})")


def _book(store: str | None) -> Any:
    return schedules.book(open_store(store))


@app.command("ls")
def ls(json: JsonOpt = False, store: StoreOpt = None) -> None:
    """List schedules with their next slot and last run."""
    import time

    from picidae.core import cron as crons

    found = _book(store).list()
    now = time.time()
    for item in found:
        item["next_slot"] = None if item["paused"] else crons.next_slot(
            item["cron"], item["tz"], max(now, item["last_slot"]))
    if json:
        print_json(found)
        return
    if not found:
        console.print("No schedules yet. Add one with: picidae schedule add NAME --cron "
                      "'0 3 * * *' -- CMD...")
        return
    table = Table(box=None, header_style="bold", pad_edge=False)
    for col in ("NAME", "CRON", "TZ", "RUNS", "STATE", "NEXT", "LAST RUN", "WHEN"):
        table.add_column(col, no_wrap=col != "RUNS")
    for item in found:
        last = item["last_run"] or {}
        what = f"flow {item['flow']}" if item["flow"] else " ".join(item["spec"]["command"])
        nxt = item["next_slot"]
        table.add_row(Text(item["name"]), item["cron"], item["tz"], Text(what),
                      "paused" if item["paused"] else "active",
                      "-" if nxt is None else f"in {max(0, int(nxt - now))}s",
                      last.get("id") or "-", ago(last.get("fired_at")))
    console.print(table)


def _show(item: dict[str, Any], verb: str, json: bool) -> None:
    if json:
        print_json(item)
    else:
        console.print(f"schedule {item['name']} {verb}")


@app.command("rm")
def rm(name: NameArg, json: JsonOpt = False, store: StoreOpt = None) -> None:
    """Remove a schedule (runs it submitted stay)."""
    _show(_book(store).remove(name), "removed", json)


@app.command("pause")
def pause(name: NameArg, json: JsonOpt = False, store: StoreOpt = None) -> None:
    """Stop firing a schedule until 'resume'."""
    _show(_book(store).set_paused(name, True), "paused", json)


@app.command("resume")
def resume(name: NameArg, json: JsonOpt = False, store: StoreOpt = None) -> None:
    """Fire a paused schedule again, from its next slot (missed slots are skipped)."""
    _show(_book(store).set_paused(name, False), "resumed", json)
