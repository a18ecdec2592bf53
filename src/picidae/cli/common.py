"""What every command shares: the ``--store`` and ``--json`` options, output helpers, and
``error_text``, the one place an error becomes the lines the CLI prints."""

from __future__ import annotations

import sys
import time
from typing import Annotated, Any

import orjson
import typer
from rich.console import Console

from picidae.errors import PicidaeError
from picidae.sdk.view import iso

StoreOpt = Annotated[
    str | None,
    typer.Option("--store", envvar="PICIDAE_STORE", show_envvar=True,
                 help="Store: a folder (embedded), postgresql://..., or http(s)://... "
                      "[default: ~/.picidae, or PICIDAE_HOME]"),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]

console = Console(highlight=False, soft_wrap=False)
if not console.is_terminal:  # piped or captured: don't squeeze tables to 80 columns
    console = Console(highlight=False, soft_wrap=False, width=max(console.width, 200))

STATUS_STYLE = {
    "queued": "cyan", "provisioning": "cyan", "syncing_data": "cyan", "running": "blue",
    "evaluating": "blue", "completed": "green", "failed": "red", "canceled": "yellow",
    "lost": "magenta", "archived": "dim",
}


def print_json(data: Any) -> None:
    """Write JSON to stdout (NaN and infinities become null, as JSON has no such numbers)."""
    sys.stdout.buffer.write(orjson.dumps(data, option=orjson.OPT_INDENT_2
                                         | orjson.OPT_NON_STR_KEYS))
    sys.stdout.buffer.write(b"\n")
    sys.stdout.flush()


def status_text(status: str) -> str:
    """A status with its colour, for Rich."""
    return f"[{STATUS_STYLE.get(status, 'white')}]{status}[/]"


def ago(ts: float | None) -> str:
    """'3m ago', '2h ago', '4d ago' (or an ISO date past a week)."""
    if ts is None:
        return "-"
    delta = time.time() - ts
    if delta < 60:
        return f"{max(0, int(delta))}s ago"
    if delta < 3600:
        return f"{int(delta // 60)}m ago"
    if delta < 86400:
        return f"{int(delta // 3600)}h ago"
    if delta < 7 * 86400:
        return f"{int(delta // 86400)}d ago"
    return (iso(ts) or "-")[:10]


def duration(seconds: float | None) -> str:
    """'45s', '12m 03s', '3h 05m'."""
    if seconds is None:
        return "-"
    s = int(seconds)
    if s < 60:
        return f"{seconds:.1f}s" if seconds < 10 else f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    return f"{s // 3600}h {(s % 3600) // 60:02d}m"


def number(value: Any) -> str:
    """A metric value, compactly."""
    if isinstance(value, float):
        return f"{value:.4g}"
    return "-" if value is None else str(value)


#: At most this many lines of one error message reach the terminal.
MAX_ERROR_LINES = 12


def error_text(exc: PicidaeError | OSError) -> str:
    """What the CLI prints for an error (after ``picidae: ``), never a traceback.

    A Picidae error prints its whole message: a where-expression's caret line and its "Did you
    mean ...?" hint reach the terminal as they do in the SDK. An ``OSError`` (a path that
    cannot be written or read, a full disk, a refused connection) prints the path and the
    reason on one line."""
    if isinstance(exc, PicidaeError):
        lines = (exc.message or type(exc).__name__).rstrip().splitlines() or [type(exc).__name__]
        if len(lines) > MAX_ERROR_LINES:
            lines = [*lines[:MAX_ERROR_LINES], "…"]
        return "\n".join(lines)
    reason = exc.strerror or str(exc) or type(exc).__name__
    paths = [str(p) for p in (exc.filename, exc.filename2) if p is not None]
    text = f"{' -> '.join(paths)}: {reason}" if paths else reason
    return " ".join(text.split("\n"))
