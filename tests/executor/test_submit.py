"""Submitting: the queued runs ``picidae submit`` and ``picidae.submit`` create."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import picidae
from picidae.core.submission import (
    parse_assignments,
    parse_duration,
    parse_grid,
    parse_memory,
    parse_seeds,
)
from picidae.errors import InvalidInput

from .conftest import Cli


def test_set_values_are_parsed_as_json_where_they_parse() -> None:
    assert parse_assignments(["lr=0.01", "amp=true", "name=resnet", "opt.beta=0.9",
                              "layers=[1,2]", "tag=1e"]) == {
        "lr": 0.01, "amp": True, "name": "resnet", "opt": {"beta": 0.9}, "layers": [1, 2],
        "tag": "1e"}
    with pytest.raises(InvalidInput, match="KEY=VALUE"):
        parse_assignments(["novalue"])


def test_seeds_grid_memory_and_durations_parse() -> None:
    assert parse_seeds("42-46") == [42, 43, 44, 45, 46]
    assert parse_seeds("1,2,3") == [1, 2, 3]
    assert parse_seeds("1-2,7") == [1, 2, 7]
    assert parse_grid(["lr=0.1,0.01", "opt=adam,sgd"]) == {"lr": [0.1, 0.01],
                                                           "opt": ["adam", "sgd"]}
    assert parse_memory("4G") == 4096 and parse_memory("512M") == 512
    assert parse_duration("2h") == 7200 and parse_duration("1h30m") == 5400
    assert parse_duration(90) == 90
    for bad in ("46-42", "a-b", "1,1"):
        with pytest.raises(InvalidInput):
            parse_seeds(bad)
    with pytest.raises(InvalidInput):
        parse_duration("2 weeks")


def test_submit_queues_a_run_with_command_config_request_and_inputs(
        sqlite_url: str, tmp_path: Path) -> None:
    data = tmp_path / "data.csv"
    data.write_text("a,b\n1,2\n")
    rv = picidae.submit(["python", "train.py", "--fast"], name="cv/baseline",
                        config={"epochs": 3}, set=["lr=0.01", "amp=true"], cpus=2, gpus=1,
                        memory="4G", timeout="30m", eval="python eval.py",
                        inputs=[f"train={data}"], retries=2, store=sqlite_url)
    assert rv.status == "queued" and rv.name == "cv/baseline" and rv.queue == "default"
    assert rv.command == ["python", "train.py", "--fast"]
    assert rv.config == {"epochs": 3, "lr": 0.01, "amp": True}
    assert rv.resources == {"request": {"cpus": 2, "gpus": 1, "memory_mb": 4096}}
    assert rv.execution["eval"] == ["python", "eval.py"]
    assert rv.execution["timeout_s"] == 1800 and rv.execution["retries"] == 2
    assert rv.attempt == 1 and rv.trigger == "user" and rv.kind is None
    (item,) = rv.inputs
    assert item["name"] == "train" and item["uri"] == data.resolve().as_uri()
    assert len(item["digest"]) == 64  # pinned at submit, verified by the worker


def test_seeds_make_a_parent_with_one_child_per_seed(sqlite_url: str) -> None:
    parent = picidae.submit("python train.py", name="sweep", seeds="42-46",
                            config={"lr": 0.1}, store=sqlite_url)
    assert parent.queue is None and parent.execution["group"]["children"] == 5
    kids = parent.children()
    assert [k.seed for k in kids] == [42, 43, 44, 45, 46]
    assert {k.kind for k in kids} == {"seed"}
    assert [k.name for k in kids] == [f"sweep/seed-{s}" for s in range(42, 47)]
    assert all(k.config == {"lr": 0.1, "seed": k.seed} for k in kids)
    assert all(k.queue == "default" and k.status == "queued" for k in kids)
    assert {k.root_id for k in kids} == {parent.id}


def test_a_grid_makes_the_cartesian_product(sqlite_url: str) -> None:
    parent = picidae.submit(["python", "t.py"], grid={"lr": [0.1, 0.01], "bs": [16, 32, 64]},
                            store=sqlite_url)
    kids = parent.children()
    assert len(kids) == 6 and {k.kind for k in kids} == {"sweep-point"}
    assert sorted((k.config["lr"], k.config["bs"]) for k in kids) == sorted(
        (lr, bs) for lr in (0.1, 0.01) for bs in (16, 32, 64))


def test_submit_refuses_bad_input_before_storing_anything(sqlite_url: str,
                                                           tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="does not exist"):
        picidae.submit("python t.py", inputs=[f"x={tmp_path / 'missing'}"], store=sqlite_url)
    with pytest.raises(InvalidInput, match="memory"):
        picidae.submit("python t.py", memory="lots", store=sqlite_url)
    assert picidae.runs(store=sqlite_url) == []


def test_cli_submit_prints_json_with_children(cli: Cli, sqlite_url: str) -> None:
    out = cli("submit", "--store", sqlite_url, "--name", "g", "--grid", "lr=0.1,0.2",
              "--grid", "opt=adam,sgd,sgdm", "--set", "epochs=2", "--json", "--",
              "python", "-c", "print(1)")
    data = json.loads(out.stdout)
    assert data["status"] == "queued" and len(data["children"]) == 6
    assert data["command"] == ["python", "-c", "print(1)"]
    err = cli("submit", "--store", sqlite_url, "--seeds", "x", "--", "true", check=False)
    assert err.returncode == 1 and err.stderr.startswith("picidae: ")
    assert len(err.stderr.strip().splitlines()) == 1
