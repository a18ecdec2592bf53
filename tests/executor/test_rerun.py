"""Retry and replay: explicit re-execution, each a new run with its lineage."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable

import pytest

import picidae
from picidae.errors import InvalidInput
from picidae.executor.worker import Worker

from .conftest import Cli

PRINT_CONFIG = """
    import json, picidae
    run = picidae.init(config={"lr": 1.0, "epochs": 1})
    print(json.dumps(run.config, sort_keys=True))
"""


def test_retry_makes_a_new_attempt_under_the_same_parent(sqlite_url: str) -> None:
    parent = picidae.submit(["sh", "-c", 'test "$PICIDAE_SEED" != 2'], seeds="1-2",
                            allow_failures=True, store=sqlite_url)
    Worker(sqlite_url, once=True).run()
    (failed,) = [k for k in parent.children() if k.status == "failed"]
    again = picidae.retry(failed.id, store=sqlite_url)
    assert again.id != failed.id and again.status == "queued"
    assert (again.attempt, again.retry_of, again.replay_of) == (2, failed.id, None)
    assert again.trigger == "retry" and again.parent_id == parent.id
    assert again.command == failed.command and again.seed == 2
    assert again.config == failed.config
    with pytest.raises(InvalidInput, match="cancel it first"):
        picidae.retry(again.id, store=sqlite_url)  # it has not ended


def test_replay_runs_the_same_command_with_config_overrides(
        cli: Cli, sqlite_url: str, script: Callable[[str], str]) -> None:
    prog = script(PRINT_CONFIG)
    first = picidae.submit([sys.executable, prog], set=["lr=0.1"], store=sqlite_url)
    Worker(sqlite_url, once=True).run()
    out = cli("replay", first.id, "--set", "lr=0.5", "--set", "opt.name=adam", "--json",
              "--store", sqlite_url)
    data = json.loads(out.stdout)
    assert data["replay_of"] == first.id and data["trigger"] == "replay"
    assert data["attempt"] == 1 and data["retry_of"] is None
    assert data["command"] == [sys.executable, prog]
    Worker(sqlite_url, once=True).run()
    replayed = picidae.get_run(data["id"], store=sqlite_url)
    assert replayed.status == "completed"
    printed = [ln.text for ln in replayed.logs() if ln.stream == "stdout"]
    assert json.loads(printed[0]) == {"epochs": 1, "lr": 0.5, "opt": {"name": "adam"}}
    assert picidae.get_run(first.id, store=sqlite_url).config == {"lr": 0.1, "epochs": 1}


def test_retry_from_the_cli_and_replay_of_a_parent(cli: Cli, sqlite_url: str) -> None:
    failed = picidae.submit(["false"], store=sqlite_url)
    Worker(sqlite_url, once=True).run()
    data = json.loads(cli("retry", failed.id, "--json", "--store", sqlite_url).stdout)
    assert (data["attempt"], data["retry_of"], data["trigger"]) == (2, failed.id, "retry")
    group = picidae.submit(["true"], seeds="5-6", store=sqlite_url)
    again = picidae.replay(group.id, {"x": 1}, store=sqlite_url)
    kids = again.children()
    assert again.replay_of == group.id and len(kids) == 2
    assert {k.replay_of for k in kids} == {k.id for k in group.children()}
    assert all(k.config["x"] == 1 for k in kids)
    Worker(sqlite_url, once=True, concurrency=2).run()
    assert picidae.get_run(again.id, store=sqlite_url).status == "completed"


def test_a_run_recorded_in_process_can_be_replayed_where_it_ran(sqlite_url: str) -> None:
    with picidae.init("inproc", config={"a": 1}, store=sqlite_url) as run:
        run.log(x=1.0)
    again = picidae.replay(run.id, {"a": 2}, store=sqlite_url)
    assert again.command == picidae.get_run(run.id, store=sqlite_url).command
    assert again.queue == "default" and again.config == {"a": 2}
    assert again.execution["cwd"]
