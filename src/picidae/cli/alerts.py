"""``picidae alerts add|ls|rm|test``: post to a webhook or Slack when a run fails, goes lost,
completes, calls ``run.alert(...)`` or makes a ``--when`` expression true. Delivered by
whichever ``picidae server``, ``ui`` or ``worker`` is running."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from picidae.cli.common import JsonOpt, StoreOpt, console, error_text, print_json
from picidae.errors import InvalidInput
from picidae.executor import alerts
from picidae.store.registry import open_store

app = typer.Typer(help="Webhook and Slack alerts about runs.", no_args_is_help=True)

NameArg = Annotated[str, typer.Argument(metavar="NAME", help="The alert's name.")]


@app.command("add")
def add(
    name: NameArg,
    on: Annotated[str | None, typer.Option("--on", help="Comma-separated: failed, lost, "
                                                        "completed, alert.")] = None,
    where: Annotated[str | None, typer.Option("--where", help="Only runs matching this "
                                                              "expression.")] = None,
    when: Annotated[str | None, typer.Option("--when", help="Fire once per run when this "
                                                            "becomes true, e.g. "
                                                            "'metrics.loss > 10'.")] = None,
    webhook: Annotated[str | None, typer.Option("--webhook", help="POST JSON to this "
                                                                  "URL.")] = None,
    slack: Annotated[str | None, typer.Option("--slack", help="A Slack incoming-webhook "
                                                              "URL.")] = None,
    json: JsonOpt = False,
    store: StoreOpt = None,
) -> None:
    """Add an alert rule (checked before anything is stored)."""
    try:
        found = alerts.add(name, on, where=where, when=when, webhook=webhook, slack=slack,
                           store=store)
    except InvalidInput as exc:
        print(f"picidae: {error_text(exc).splitlines()[0]}", file=sys.stderr)
        raise typer.Exit(2) from None
    if json:
        print_json(found)
        return
    console.print(f"alert {found['name']}: {_what(found)} → {found['kind']} {found['url']}")


def _what(rule: dict[str, Any]) -> str:
    parts = [",".join(e for e in rule["on"] if e != "when")] if rule["on"] != ["when"] else []
    if rule["when"]:
        parts.append(f"when {rule['when']}")
    if rule["where"]:
        parts.append(f"where {rule['where']}")
    return " ".join(p for p in parts if p)


def _book(store: str | None) -> Any:
    return alerts.book(open_store(store))


@app.command("ls")
def ls(json: JsonOpt = False, store: StoreOpt = None) -> None:
    """List alert rules with their deliveries."""
    book = _book(store)
    found = book.list()
    for rule in found:
        sent = book.deliveries(rule["name"])
        rule["delivered"] = sum(1 for d in sent if d["status"] == "delivered")
        rule["pending"] = sum(1 for d in sent if d["status"] == "pending")
        rule["failed"] = sum(1 for d in sent if d["status"] == "failed")
    if json:
        print_json(found)
        return
    if not found:
        console.print("No alerts yet. Add one with: picidae alerts add NAME --on failed "
                      "--webhook URL")
        return
    table = Table(box=None, header_style="bold", pad_edge=False)
    for col in ("NAME", "ON", "TO", "DELIVERED", "PENDING", "FAILED"):
        table.add_column(col)
    for rule in found:
        table.add_row(Text(rule["name"]), Text(_what(rule)), Text(f"{rule['kind']} "
                                                                  f"{rule['url']}"),
                      str(rule["delivered"]), str(rule["pending"]), str(rule["failed"]))
    console.print(table)


@app.command("rm")
def rm(name: NameArg, json: JsonOpt = False, store: StoreOpt = None) -> None:
    """Remove an alert rule (its undelivered alerts go too)."""
    found = _book(store).remove(name)
    if json:
        print_json(found)
    else:
        console.print(f"alert {found['name']} removed")


@app.command("test")
def test(name: NameArg, json: JsonOpt = False, store: StoreOpt = None) -> None:
    """Post a test alert to the rule's URL now; exits 1 when it is not taken."""
    result = alerts.test(name, store=store)
    if json:
        print_json(result)
    elif result["ok"]:
        console.print(f"alert {name}: test delivered to {result['url']}")
    else:
        print(f"picidae: alert {name}: {result['url']} did not take the test: "
              f"{result['detail']}", file=sys.stderr)
    if not result["ok"]:
        raise typer.Exit(1)
