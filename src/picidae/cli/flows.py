"""``picidae flow add|run|ls``: named, versioned templates of submitted work."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from picidae.cli.common import JsonOpt, StoreOpt, ago, console, print_json, status_text
from picidae.cli.exec import SetOpt
from picidae.core.submission import Spec
from picidae.errors import InvalidInput
from picidae.executor import flows

app = typer.Typer(help="Named, versioned templates of submitted work.", no_args_is_help=True)


@app.command("add")
def add(
    name: Annotated[str, typer.Argument(metavar="NAME", help="The flow's name.")],
    command: Annotated[list[str] | None, typer.Argument(
        metavar="-- CMD...", help="The command, after '--' (or in --file).")] = None,
    file: Annotated[str | None, typer.Option("--file", "-f", help="A YAML/JSON/TOML spec; "
                                                                  "options override it.")]
    = None,
    sets: SetOpt = None,
    seeds: Annotated[str | None, typer.Option("--seeds", help="42-46 or 1,2,3.")] = None,
    grid: Annotated[list[str] | None, typer.Option("--grid", help="KEY=A,B,C (repeatable).")]
    = None,
    cpus: Annotated[float | None, typer.Option("--cpus", min=0)] = None,
    gpus: Annotated[int | None, typer.Option("--gpus", min=0)] = None,
    memory: Annotated[str | None, typer.Option("--memory", help="e.g. 4G.")] = None,
    timeout: Annotated[str | None, typer.Option("--timeout", help="e.g. 2h.")] = None,
    eval_: Annotated[str | None, typer.Option("--eval", help="Evaluation command.")] = None,
    inputs: Annotated[list[str] | None, typer.Option("--input", help="NAME=PATH_OR_URI.")]
    = None,
    queue: Annotated[str | None, typer.Option("--queue", "-q")] = None,
    retries: Annotated[int | None, typer.Option("--retries", min=0, max=100)] = None,
    json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Register a flow (adding it again stores a new version)."""
    import os

    data: dict[str, Any] = flows.load_file(file) if file else {}
    given = {"command": command or None, "seeds": seeds, "grid": grid, "cpus": cpus,
             "gpus": gpus, "memory": memory, "timeout": timeout, "eval": eval_,
             "inputs": inputs, "queue": queue, "retries": retries}
    data.update({k: v for k, v in given.items() if v is not None})
    data["set"] = [*(data.get("set") or []), *(sets or [])]
    data.setdefault("cwd", os.getcwd())
    if not data.get("command"):
        raise InvalidInput("a flow needs a command: picidae flow add NAME -- CMD..., or "
                           "--file with a 'command'", field="command")
    flow = flows.add(name, Spec.from_dict(data), store=store)
    if json:
        print_json(flow)
        return
    console.print(f"flow {flow['name']} version {flow['version']}: "
                  f"{' '.join(flow['spec']['command'])}")


@app.command("run")
def run(
    name: Annotated[str, typer.Argument(metavar="NAME", help="The flow to run.")],
    sets: SetOpt = None,
    version: Annotated[int | None, typer.Option("--version", min=1,
                                                help="This version [default: latest].")]
    = None,
    run_name: Annotated[str | None, typer.Option("--name", "-n", help="Run name "
                                                 "[default: the flow's name].")] = None,
    json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Submit a run of a flow (queued for a worker)."""
    rv = flows.run(name, set=sets, version=version, run_name=run_name, store=store)
    if json:
        print_json(rv.to_dict(transitions=False))
        return
    console.print(f"queued {rv.id} ({rv.name}) from flow {rv.flow} version {rv.flow_version}")


@app.command("ls")
def ls(json: JsonOpt = False, store: StoreOpt = None) -> None:
    """List flows with their latest version and last run."""
    found = flows.ls(store=store)
    if json:
        print_json(found)
        return
    if not found:
        console.print("No flows yet. Add one with: picidae flow add NAME -- CMD...")
        return
    table = Table(box=None, header_style="bold", pad_edge=False)
    for col in ("NAME", "VERSION", "COMMAND", "LAST RUN", "STATUS", "WHEN"):
        table.add_column(col, no_wrap=col != "COMMAND")
    for flow in found:
        last = flow.get("last_run")
        table.add_row(Text(flow["name"]), str(flow["version"]),
                      Text(" ".join(flow["spec"]["command"])),
                      last["id"] if last else "-",
                      status_text(last["status"]) if last else "-",
                      ago(last["created_at"]) if last else "-")
    console.print(table)
