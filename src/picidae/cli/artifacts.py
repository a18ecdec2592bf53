"""``picidae artifacts ls ID`` and ``picidae artifacts get ID NAME [-o PATH]``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

import picidae
from picidae.cli.common import JsonOpt, StoreOpt, console, print_json
from picidae.errors import InvalidInput
from picidae.sdk.artifact_view import Artifact

app = typer.Typer(help="List and download a run's artifacts.", no_args_is_help=True)


def human_size(n: int) -> str:
    """'512 B', '3.4 KB', '1.2 GB'."""
    size = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1024 or unit == "TB":
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


@app.command("ls")
def ls(
    run_id: Annotated[str, typer.Argument(metavar="ID", help="The run's id.")],
    json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """List a run's artifacts: name, type, size, digest, step, created time."""
    found = picidae.get_run(run_id, store=store).artifacts()
    if json:
        print_json(found)
        return
    if not found:
        console.print(f"Run {run_id} has no artifacts. Log one with "
                      "run.log_artifact(path, type='checkpoint').")
        return
    table = Table(box=None, header_style="bold", pad_edge=False)
    for col in ("NAME", "TYPE", "KIND", "SIZE", "STEP", "DIGEST", "CREATED"):
        table.add_column(col, no_wrap=col in ("DIGEST", "CREATED", "SIZE"))
    for art in found:
        kind = art["kind"] if art["kind"] != "folder" else f"folder ({len(art['files'])})"
        table.add_row(Text(art["name"]), Text(art["type"] or "-"), kind,
                      human_size(art["size"]), "-" if art["step"] is None else str(art["step"]),
                      art["digest"][:12], (art["created_at"] or "-")[:19])
    console.print(table)


@app.command("get")
def get(
    run_id: Annotated[str, typer.Argument(metavar="ID", help="The run's id.")],
    name: Annotated[str, typer.Argument(metavar="NAME", help="The artifact's name.")],
    output: Annotated[str | None, typer.Option(
        "--output", "-o", help="Where to write it (a file, a folder, or - for stdout); "
                               "default: its base name here.")] = None,
    step: Annotated[int | None, typer.Option(
        "--step", help="For an image logged at several steps: this step's.")] = None,
    store: StoreOpt = None,
) -> None:
    """Download an artifact, checking its SHA-256 digest."""
    art: Artifact = picidae.get_run(run_id, store=store).artifact(name, step=step)
    if output == "-":
        if art["kind"] == "folder":
            raise InvalidInput(f"artifact {name!r} is a folder; download it with -o FOLDER",
                               field="output")
        with art.open() as src:
            out = sys.stdout.buffer
            while chunk := src.read(1024 * 1024):
                out.write(chunk)
            out.flush()
        return
    try:
        written = art.download(Path(output) if output else None)
    except OSError as exc:  # name the path the user gave, not a temporary file beside it
        raise OSError(exc.errno, exc.strerror, output or exc.filename) from exc
    print(f"{written}  ({human_size(art['size'])}, sha256 {art['digest']})")
