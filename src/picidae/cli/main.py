"""The ``picidae`` entry point. Errors print on stderr (one line, or a where-expression with
its caret and hint; see ``common.error_text``) and exit non-zero; a user's mistake or an
unwritable path never shows a traceback."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

try:  # Typer ≥ 0.20 vendors click; older releases depend on it
    from typer._click import exceptions as click
except ImportError:  # pragma: no cover
    from click import exceptions as click  # type: ignore[no-redef]

from picidae.cli import (
    admin,
    alerts,
    analysis,
    artifacts,
    demo,
    flows,
    logs,
    runs,
    schedules,
    server,
    sweep,
    sync,
    tokens,
)
from picidae.cli import exec as execute
from picidae.cli.common import error_text
from picidae.cli.mcp import mcp
from picidae.errors import PicidaeError

app = typer.Typer(
    name="picidae",
    help="Record and run ML runs. Every listing takes --json; every command takes --store.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        from picidae import __version__

        print(f"picidae {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: Annotated[bool, typer.Option(
        "--version", callback=_print_version, is_eager=True,
        help="Print the version and exit.")] = False) -> None:
    """Record and run ML runs. Every listing takes --json; every command takes --store."""


app.add_typer(runs.app, name="runs")
app.add_typer(artifacts.app, name="artifacts")
app.add_typer(admin.db, name="db")
app.command("logs")(logs.logs)
app.command("archive")(runs.archive)
app.command("restore")(runs.restore)
app.command("demo")(demo.demo)
app.command("server")(server.server)
app.command("ui")(server.ui)
app.command("sync")(sync.sync)
app.add_typer(tokens.app, name="token")
app.command("submit")(execute.submit)
app.command("worker")(execute.worker)
app.command("cancel")(execute.cancel)
app.command("retry")(execute.retry)
app.command("replay")(execute.replay)
app.add_typer(flows.app, name="flow")
app.command("sweep")(sweep.sweep)
app.add_typer(schedules.app, name="schedule")
app.add_typer(alerts.app, name="alerts")
app.command("compare")(analysis.compare)
app.command("history")(analysis.history)
app.command("export")(analysis.export)
app.command("import")(analysis.import_)
app.command("gc")(analysis.gc)
app.command("lineage")(analysis.lineage)
app.command("mcp")(mcp)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; exit code 0 on success, 1 on an error, 2 on a usage mistake."""
    command = typer.main.get_command(app)
    try:
        code = command.main(args=argv, prog_name="picidae", standalone_mode=False)
        # Without standalone mode, a command's ``raise typer.Exit(n)`` comes back as n.
        if isinstance(code, int) and code != 0:
            sys.exit(code)
    except click.NoArgsIsHelpError:
        sys.exit(0)  # the help was printed already
    except click.UsageError as exc:
        where = exc.ctx.command_path if exc.ctx else "picidae"
        message = exc.format_message().replace("\n", " ")
        print(f"picidae: {message} (see '{where} --help')", file=sys.stderr)
        sys.exit(2)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        print("picidae: aborted", file=sys.stderr)
        sys.exit(130)
    except KeyboardInterrupt:
        sys.exit(130)
    except click.ClickException as exc:
        print(f"picidae: {exc.format_message()}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except BrokenPipeError:
        sys.exit(0)
    except (PicidaeError, OSError) as exc:
        print(f"picidae: {error_text(exc)}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
