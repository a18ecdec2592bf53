"""``picidae.compare`` and ``picidae compare``: what differs between runs, and only that."""

from __future__ import annotations

import json
from typing import Any

import pytest

import picidae
from picidae.cli.main import main
from picidae.store.base import Batch
from picidae.store.registry import open_store


def _run(url: str, name: str, *, lr: float, data: str, numpy: str, loss: list[float],
         commit: str = "abc123", python: str = "3.11.7") -> str:
    with picidae.init(name, config={"lr": lr, "batch": 32, "opt": {"name": "adam"}},
                      store=url, capture_env=False, primary_metric=("loss", "min")) as run:
        run.use_input("dataset", data)
        for value in loss:
            run.log(loss=value)
        run.log(acc=0.9)
        run.summary({"note": "same"})
        open_store(url).write(run.id, Batch(fields={  # before it ends: then it takes no more
            "env": {"python": python, "platform": "Linux", "hostname": f"host-{name}",
                    "pid": 123 if name == "a" else 456,
                    "packages": {"numpy": numpy, "torch": "2.3.0"}},
            "code": {"commit": commit, "branch": "main", "dirty": False},
            "command": ["python", "train.py", f"--lr={lr}"],
        }))
    return run.id


def test_compare_shows_only_config_data_and_package_differences(any_store_url: str) -> None:
    a = _run(any_store_url, "a", lr=0.01, data="v1", numpy="1.26.4", loss=[1.0, 0.4, 0.5])
    b = _run(any_store_url, "b", lr=0.1, data="v2", numpy="2.0.1", loss=[1.0, 0.6, 0.45])
    result = picidae.compare([a, b], store=any_store_url)
    rows = {name: {r["key"]: r for r in section}
            for name, section in result["sections"].items()}
    assert set(rows["config"]) == {"lr"}
    assert rows["config"]["lr"]["values"] == [0.01, 0.1]
    assert rows["inputs"]["dataset"]["values"] == ["v1", "v2"]
    assert set(rows["env"]) == {"packages.numpy"}  # torch, python, platform agree; no pid
    assert rows["env"]["packages.numpy"]["values"] == ["1.26.4", "2.0.1"]
    assert set(rows["command"]) == {"command"}
    assert rows["summary"] == {} and rows["code"] == {}
    assert set(rows["metrics"]) == {"loss"}  # acc is the same final and best value
    loss = rows["metrics"]["loss"]
    assert loss["values"] == [0.5, 0.45] and loss["best"] == [0.4, 0.45]
    assert loss["mode"] == "min" and loss["better"] == a  # best 0.4 beats best 0.45
    assert result["primary_metric"] == {"name": "loss", "mode": "min"}
    assert result["winner"] == a
    assert result["hidden"]["config"] == 2 and result["hidden"]["metrics"] == 1


def test_compare_all_shows_every_row_and_code_differences(any_store_url: str) -> None:
    a = _run(any_store_url, "a", lr=0.01, data="v1", numpy="1.26.4", loss=[0.5])
    b = _run(any_store_url, "b", lr=0.01, data="v1", numpy="1.26.4", loss=[0.5],
             commit="def456", python="3.12.1")
    diff = picidae.compare([a, b], store=any_store_url)["sections"]
    assert [r["key"] for r in diff["code"]] == ["commit"]
    assert [r["key"] for r in diff["env"]] == ["python"]
    assert diff["config"] == [] and diff["metrics"] == []
    every = picidae.compare([a, b], store=any_store_url, all=True)["sections"]
    assert {r["key"] for r in every["config"]} == {"lr", "batch", "opt.name"}
    assert not next(r for r in every["metrics"] if r["key"] == "acc")["differs"]


def test_compare_needs_two_runs(any_store_url: str) -> None:
    a = _run(any_store_url, "a", lr=0.01, data="v1", numpy="1", loss=[0.5])
    with pytest.raises(picidae.InvalidInput, match="at least two"):
        picidae.compare([a, a], store=any_store_url)
    with pytest.raises(picidae.RunNotFound):
        picidae.compare([a, "0190a000-0000-7000-8000-000000000000"], store=any_store_url)


def test_cli_compare_prints_the_differences_as_a_table_and_as_json(
        tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    url = str(tmp_path / "store")
    a = _run(url, "a", lr=0.01, data="v1", numpy="1.26.4", loss=[0.5])
    b = _run(url, "b", lr=0.1, data="v2", numpy="1.26.4", loss=[0.5])
    main(["compare", a, b, "--store", url])
    out = capsys.readouterr().out
    assert "lr" in out and "0.01" in out and "dataset" in out and "v2" in out
    assert "batch" not in out and "numpy" not in out
    assert "identical rows hidden" in out
    main(["compare", a, b, "--store", url, "--json"])
    data = json.loads(capsys.readouterr().out)
    assert [r["key"] for r in data["sections"]["config"]] == ["lr"]
    main(["compare", a, b, "--store", url, "--all"])
    assert "batch" in capsys.readouterr().out


def test_better_is_marked_on_the_primary_metric_and_summary_never_on_system(
        any_store_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    ids = []
    for name, acc, cpu, lr, test_loss in (("a", 0.9, 80.0, 0.1, 0.3), ("b", 0.8, 20.0, 0.01,
                                                                       0.2)):
        with picidae.init(name, store=any_store_url, capture_env=False,
                          primary_metric=("acc", "max")) as run:
            run.log({"acc": acc, "system/cpu_percent": cpu, "system/memory_mb": cpu * 10,
                     "lr": lr})
            run.summary({"test_loss": test_loss, "test_acc": acc, "system/peak_mb": cpu,
                         "note": name})
        ids.append(run.id)
    a, b = ids
    result = picidae.compare(ids, store=any_store_url)
    metrics = {r["key"]: r for r in result["sections"]["metrics"]}
    summary = {r["key"]: r for r in result["sections"]["summary"]}
    assert metrics["acc"]["better"] == a and result["winner"] == a
    assert metrics["system/cpu_percent"]["better"] is None
    assert metrics["system/memory_mb"]["better"] is None
    assert metrics["lr"]["better"] is None  # not a result: no judgement
    assert summary["test_loss"]["mode"] == "min" and summary["test_loss"]["better"] == b
    assert summary["test_acc"]["mode"] == "max" and summary["test_acc"]["better"] == a
    assert summary["system/peak_mb"].get("better") is None
    assert "better" not in summary["note"]  # text: nothing to rank
    main(["compare", a, b, "--store", any_store_url])
    out = capsys.readouterr().out
    starred = [line.split()[0] for line in out.splitlines() if "★" in line]
    assert sorted(starred) == ["acc", "test_acc", "test_loss"]
