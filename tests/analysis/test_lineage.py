"""Lineage (``picidae.lineage``, ``picidae lineage``) and staleness: a run whose input has a
newer version upstream is stale, and so is everything downstream of it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import picidae
from picidae.analysis.bundle import load_run
from picidae.cli.main import main
from picidae.core.ids import new_id
from picidae.core.where import evaluate as matches
from picidae.store.base import RunQuery
from picidae.store.registry import open_store

KW: dict[str, Any] = {"capture_env": False}


def _produce(url: str, name: str, output: str, version: str, tmp: Path,
             artifact: bool = False) -> str:
    """A run that produces ``output`` at ``version``: a versioned output, or an artifact
    logged with ``version=``."""
    with picidae.init(name, store=url, **KW) as run:
        if artifact:
            path = tmp / f"{output}-{version}.txt"
            path.write_text(f"{output} {version}\n")
            run.log_artifact(path, name=output, type="dataset", version=version)
        else:
            run.output(output, {"version": version})
    return run.id


def _consume(url: str, name: str, uses: tuple[str, str], makes: tuple[str, str] | None = None,
             **init: Any) -> str:
    with picidae.init(name, store=url, **KW, **init) as run:
        run.use_input(*uses)
        if makes is not None:
            run.output(makes[0], {"version": makes[1]})
    return run.id


def test_staleness_propagates_two_levels_down(any_store_url: str, tmp_path: Path) -> None:
    url = any_store_url
    prep = _produce(url, "data/prep", "dataset", "v1", tmp_path)
    train = _consume(url, "train", ("dataset", "v1"), ("model", "m1"))
    evaluate = _consume(url, "eval", ("model", "m1"))
    assert picidae.runs(store=url, where="stale = true") == []
    newer = _produce(url, "data/prep", "dataset", "v2", tmp_path)

    stale = {r.id: r.stale for r in picidae.runs(store=url, where="stale = true")}
    assert set(stale) == {train, evaluate}
    assert stale[train]["upstream_id"] == newer and stale[train]["input"] == "dataset"
    assert stale[train]["reason"] == f"input dataset v1 is outdated: run {newer} produced v2"
    assert stale[evaluate]["upstream_id"] == train
    assert "upstream run" in stale[evaluate]["reason"] and "model m1" in stale[evaluate]["reason"]
    fresh = {r.id for r in picidae.runs(store=url, where="stale = false")}
    assert fresh == {prep, newer}
    for rec in open_store(url).list_runs(RunQuery()):  # SQL and Python agree on `stale`
        assert matches("stale = true", rec) == (rec["id"] in stale)
        assert matches("not stale = true", rec) == (rec["id"] in fresh)
    with pytest.raises(picidae.InvalidInput, match="stale takes true or false"):
        picidae.runs(store=url, where="stale = 1")
    assert picidae.get_run(evaluate, store=url).stale["upstream_id"] == train

    # Running the pipeline again on v2 gives fresh runs; the old ones stay stale.
    train2 = _consume(url, "train", ("dataset", "v2"), ("model", "m2"))
    assert picidae.get_run(train2, store=url).stale is None
    assert picidae.get_run(train, store=url).stale is not None


def test_a_newer_artifact_version_makes_its_consumers_stale(where_store_url: str,
                                                            tmp_path: Path) -> None:
    url = where_store_url
    _produce(url, "data/prep", "dataset", "v1", tmp_path, artifact=True)
    train = _consume(url, "train", ("dataset", "v1"))
    assert picidae.get_run(train, store=url).stale is None
    newer = _produce(url, "data/prep", "dataset", "v2", tmp_path, artifact=True)
    assert picidae.get_run(train, store=url).stale["upstream_id"] == newer


def test_deleting_the_newer_producer_makes_its_consumers_fresh_again(
        any_store_url: str, tmp_path: Path) -> None:
    url = any_store_url
    _produce(url, "data/prep", "dataset", "v1", tmp_path)
    train = _consume(url, "train", ("dataset", "v1"), ("model", "m1"))
    newer = _produce(url, "data/prep", "dataset", "v2", tmp_path)
    assert picidae.get_run(train, store=url).stale is not None
    from picidae.analysis.retention import remove

    remove(open_store(url), [newer])
    assert picidae.get_run(train, store=url).stale is None


def test_only_the_latest_run_of_a_flow_is_marked(where_store_url: str) -> None:
    store = open_store(where_store_url)

    def flow_run(at: float, inputs: list[dict[str, Any]] | None = None,
                 outputs: dict[str, Any] | None = None, flow: str | None = "nightly") -> str:
        run_id = new_id(at=at)
        load_run(store, {"record": {"id": run_id, "name": "pipe", "status": "completed",
                                    "created_at": at, "flow": flow, "flow_version": 1,
                                    "inputs": inputs or [], "outputs": outputs or {}}})
        return run_id

    flow_run(1000.0, outputs={"features": {"version": "f1"}}, flow=None)
    old = flow_run(1010.0, inputs=[{"name": "features", "version": "f1"}])
    latest = flow_run(1020.0, inputs=[{"name": "features", "version": "f1"}])
    flow_run(1030.0, outputs={"features": {"version": "f2"}}, flow=None)
    stale = {r["id"] for r in store.list_runs(RunQuery(where="stale = true"))}
    assert stale == {latest}
    assert store.get_run(old)["stale"] is None


def test_lineage_walks_parents_retries_replays_and_data(any_store_url: str) -> None:
    url = any_store_url
    store = open_store(url)

    def add(name: str, at: float, **fields: Any) -> str:
        run_id = new_id(at=at)
        load_run(store, {"record": {"id": run_id, "name": name, "status": "completed",
                                    "created_at": at, **fields}})
        return run_id

    root = add("sweep", 100.0, outputs={"table": {"version": "t1"}})
    child = add("sweep/seed-1", 101.0, parent_id=root, root_id=root)
    retry = add("sweep/seed-1", 102.0, parent_id=root, root_id=root, retry_of=child, attempt=2)
    replay = add("sweep/seed-1", 103.0, replay_of=retry)
    reader = add("report", 104.0, inputs=[{"name": "table", "version": "t1"}])

    graph = picidae.lineage(child, store=url)
    depth = {n["id"]: n["depth"] for n in graph["nodes"]}
    assert depth == {root: -1, child: 0, retry: 1, replay: 2}  # not the root's other reader
    edges = {(e["from"], e["to"], e["relation"]) for e in graph["edges"]}
    assert (root, child, "parent") in edges and (child, retry, "retry") in edges
    assert (retry, replay, "replay") in edges

    up = picidae.lineage(reader, store=url)
    assert {(e["from"], e["relation"], e.get("name"), e.get("version")) for e in up["edges"]} \
        >= {(root, "data", "table", "t1")}
    down = picidae.lineage(root, store=url)
    assert {n["id"] for n in down["nodes"]} >= {root, child, retry, replay, reader}
    with pytest.raises(picidae.RunNotFound):
        picidae.lineage("0190a000-0000-7000-8000-000000000000", store=url)


def test_cli_lineage_runs_ls_and_show_mark_stale_runs(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = str(tmp_path / "store")
    _produce(url, "data/prep", "dataset", "v1", tmp_path)
    train = _consume(url, "train", ("dataset", "v1"), ("model", "m1"))
    _consume(url, "eval", ("model", "m1"))
    _produce(url, "data/prep", "dataset", "v2", tmp_path)
    main(["lineage", train, "--store", url])
    out = capsys.readouterr().out
    assert "ancestors" in out and "[dataset v1]" in out and "[model m1]" in out
    assert "stale: input dataset v1 is outdated" in out
    main(["lineage", train, "--store", url, "--json"])
    assert {e["relation"] for e in json.loads(capsys.readouterr().out)["edges"]} == {"data"}
    main(["runs", "ls", "--store", url])
    assert capsys.readouterr().out.count("stale") == 2
    main(["runs", "ls", "--store", url, "--where", "stale = true", "--json"])
    assert {r["name"] for r in json.loads(capsys.readouterr().out)} == {"train", "eval"}
    main(["runs", "show", train, "--store", url])
    assert "outdated" in capsys.readouterr().out
    main(["runs", "show", train, "--store", url, "--json"])
    assert json.loads(capsys.readouterr().out)["stale"]["input"] == "dataset"
