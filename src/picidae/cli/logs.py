"""``picidae logs ID [--follow]``."""

from __future__ import annotations

import sys
import time
from typing import Annotated

import orjson
import typer

from picidae.core.run import LogLine
from picidae.core.states import TERMINAL, State
from picidae.sdk.view import iso
from picidae.store.registry import open_store

from .common import StoreOpt


def _emit(lines: list[LogLine], *, timestamps: bool, json: bool) -> None:
    out = sys.stdout
    for line in lines:
        if json:
            out.write(orjson.dumps({"time": iso(line.time), "stream": line.stream,
                                    "text": line.text}).decode() + "\n")
        elif timestamps:
            out.write(f"{iso(line.time)} {line.stream:<6} {line.text}\n")
        else:
            out.write(line.text + "\n")
    out.flush()


def logs(
    run_id: Annotated[str, typer.Argument(metavar="ID", help="The run's id.")],
    follow: Annotated[bool, typer.Option("--follow", "-f",
                      help="Keep printing new lines until the run ends.")] = False,
    timestamps: Annotated[bool, typer.Option("--timestamps", "-T",
                          help="Prefix each line with its time and stream.")] = False,
    offset: Annotated[int, typer.Option("--offset", min=0,
                      help="Start from this line (0 = the first).")] = 0,
    json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
    interval: Annotated[float, typer.Option("--interval", min=0.05, hidden=True)] = 0.5,
    store: StoreOpt = None,
) -> None:
    """Print a run's log; --follow tails a live run."""
    target = open_store(store)
    rec = target.get_run(run_id)  # RunNotFound for an unknown id, before printing anything
    lines = target.logs(run_id, offset)
    _emit(lines, timestamps=timestamps, json=json)
    offset += len(lines)
    if not follow:
        return
    while State(rec["status"]) not in TERMINAL | {State.ARCHIVED}:
        time.sleep(interval)
        rec = target.get_run(run_id)
        lines = target.logs(run_id, offset)
        _emit(lines, timestamps=timestamps, json=json)
        offset += len(lines)
    lines = target.logs(run_id, offset)  # what arrived with the final flush
    _emit(lines, timestamps=timestamps, json=json)
