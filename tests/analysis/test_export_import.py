"""``picidae export`` (json, csv, parquet; ``--bundle``) and ``picidae import``: listings as
flat tables, and bundles that move runs between stores unchanged, ids kept."""

from __future__ import annotations

import csv
import io
import json
import math
import struct
import sys
from pathlib import Path
from typing import Any

import pytest

import picidae
from picidae.analysis import bundle
from picidae.cli.main import main
from picidae.store.registry import open_store

KW: dict[str, Any] = {"capture_env": False}


def _bits(values: list[float]) -> list[bytes]:
    return [struct.pack("<d", v) for v in values]


def _make_runs(url: str, tmp: Path) -> dict[str, str]:
    """A parent with two children, metrics with NaN and infinities across stages, logs,
    a file and a folder artifact, inputs and outputs, a failed and an archived run."""
    ids = {}
    (tmp / "ckpt.bin").write_bytes(b"\x00\x01 weights")
    (tmp / "preds").mkdir()
    (tmp / "preds" / "a.jsonl").write_text('{"y": 1}\n')
    (tmp / "preds" / "sub").mkdir()
    (tmp / "preds" / "sub" / "b.jsonl").write_text('{"y": 2}\n')
    with picidae.init("cv/sweep", config={"lr": 0.01, "opt": {"name": "adam"}},
                      tags=["sweep", "é"], store=url, primary_metric="acc", **KW) as parent:
        parent.output("model", {"version": "m1"})
        for seed in (1, 2):
            with parent.child(f"seed-{seed}", kind="seed", config={"seed": seed}) as child:
                child.use_input("dataset", "v1")
                for step, value in enumerate([0.1, math.nan, math.inf, -math.inf, 0.5 * seed]):
                    child.log(acc=value, stage="train" if step < 3 else "eval")
                child.log_text("line one\nline two")
                child.summary({"best": math.nan, "note": "ok"})
                ids[f"seed-{seed}"] = child.id
        parent.log(acc=0.9)
        parent.log_artifact(tmp / "ckpt.bin", type="checkpoint")
        parent.log_artifact(tmp / "preds", name="predictions")
    ids["parent"] = parent.id
    with picidae.init("cv/broken", store=url, **KW) as broken:
        broken.log(loss=1.0)
        broken.fail("crash", "CUDA out of memory")
    ids["failed"] = broken.id
    picidae.edit(broken.id, add_tags=["oom"], notes="OOM at batch 512", store=url)
    open_store(url).transition(broken.id, "archived", reason="tidy", actor="test")
    return ids


def _snapshot(url: str, run_id: str) -> dict[str, Any]:
    """Everything observable about a run, in a form that compares exactly."""
    store = open_store(url)
    rec = dict(store.get_run(run_id))
    rec.pop("workspace", None)
    rec.pop("duration_s", None)  # derived from the clock for unfinished runs
    metrics = {}
    for key in store.metric_keys(run_id):
        series = store.metrics(run_id, key)
        metrics[key] = (series.steps, _bits(series.values), _bits(series.times), series.stages)
    arts = [{k: v for k, v in a.items() if k not in ("id", "location")}
            for a in getattr(store, "list_artifacts", lambda _: [])(run_id)]
    return {"record": json.dumps(rec, sort_keys=True, default=str), "metrics": metrics,
            "latest": {k: struct.pack("<d", v) for k, v in
                       store.latest_metrics([run_id])[run_id].items()},
            "logs": store.logs(run_id), "artifacts": arts}


def test_a_bundle_moves_runs_from_embedded_to_postgresql_unchanged(
        tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    source = str(tmp_path / "embedded")
    ids = _make_runs(source, tmp_path)
    before = {run_id: _snapshot(source, run_id) for run_id in ids.values()}
    main(["export", "--bundle", str(tmp_path / "bundle"), "--store", source, "--json"])
    exported = json.loads(capsys.readouterr().out)
    assert sorted(exported["runs"]) == sorted(ids.values()) and exported["blobs"] == 3
    assert exported["runs"].index(ids["parent"]) < exported["runs"].index(ids["seed-1"])

    monkeypatch.setenv("PICIDAE_ARTIFACTS", str(tmp_path / "pg-artifacts"))
    main(["import", str(tmp_path / "bundle"), "--store", pg_url, "--json"])
    done = json.loads(capsys.readouterr().out)
    assert sorted(done["imported"]) == sorted(ids.values()) and done["blobs"] == 3
    for run_id in ids.values():
        assert _snapshot(pg_url, run_id) == before[run_id], run_id
    moved = picidae.get_run(ids["parent"], store=pg_url)
    assert moved.artifact("predictions").read_text("sub/b.jsonl") == '{"y": 2}\n'
    assert moved.artifact("ckpt.bin").read_bytes() == b"\x00\x01 weights"
    assert [c.id for c in moved.children()] == [ids["seed-1"], ids["seed-2"]]
    assert picidae.get_run(ids["failed"], store=pg_url).status == "archived"

    main(["import", str(tmp_path / "bundle"), "--store", pg_url, "--json"])
    again = json.loads(capsys.readouterr().out)
    assert again["imported"] == [] and sorted(again["skipped"]) == sorted(ids.values())


def test_a_bundle_of_chosen_runs_takes_their_children_and_loads_over_http(
        tmp_path: Path, any_store_url: str) -> None:
    source = str(tmp_path / "embedded")
    with picidae.init("p", store=source, **KW) as parent, parent.child("c") as child:
        child.log(x=math.nan)
        child.log_text("hi")
    with picidae.init("other", store=source, **KW):
        pass
    picidae.edit(child.id, notes="notes travel with the run", store=source)
    done = bundle.export_bundle(open_store(source), tmp_path / "b", [parent.id])
    assert sorted(done["runs"]) == sorted([parent.id, child.id])
    result = bundle.import_bundle(open_store(any_store_url), tmp_path / "b")
    assert sorted(result["imported"]) == sorted([parent.id, child.id])
    for run_id in (parent.id, child.id):
        assert _snapshot(any_store_url, run_id)["record"] == _snapshot(source, run_id)["record"]
    target = open_store(any_store_url)
    assert math.isnan(target.metrics(child.id, "x").values[0])
    assert [ln.text for ln in target.logs(child.id)] == ["hi"]
    with pytest.raises(picidae.InvalidInput, match="not empty"):
        bundle.export_bundle(open_store(source), tmp_path / "b", [parent.id])
    with pytest.raises(picidae.InvalidInput, match="not a Picidae bundle"):
        bundle.import_bundle(target, tmp_path)


def test_export_json_csv_and_parquet_flatten_config_summary_and_final_metrics(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = str(tmp_path / "store")
    with picidae.init("a", config={"lr": 0.01, "opt": {"name": "adam"}}, tags=["x"],
                      store=url, **KW) as a:
        a.log(acc=0.5)
        a.log(acc=0.75)
        a.summary({"best": 0.75})
    with picidae.init("b", config={"lr": 0.1, "layers": [1, 2]}, store=url, **KW) as b:
        b.log(loss=math.nan)
    main(["export", "--store", url])
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["a"]["config.opt.name"] == "adam" and rows["a"]["metrics.acc"] == 0.75
    assert rows["a"]["summary.best"] == 0.75 and rows["a"]["tags"] == ["x"]
    assert rows["b"]["metrics.loss"] is None and rows["b"]["config.layers"] == [1, 2]
    assert rows["a"]["id"] == a.id and rows["a"]["created_at"].endswith("Z")
    from picidae.core.fields import names

    flat = list(names(flat=True))  # the table says which run fields a flat export has
    assert list(rows["a"])[:len(flat)] == flat and "last_heartbeat_at" not in rows["a"]

    main(["export", "--format", "csv", "--where", "config.lr = 0.1", "--store", url])
    table = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["name"] for r in table] == ["b"] and table[0]["config.layers"] == "[1,2]"

    out = tmp_path / "runs.parquet"
    main(["export", "--format", "parquet", "-o", str(out), "--store", url])
    import pyarrow.parquet as pq

    data = pq.read_table(out).to_pylist()
    by_name = {r["name"]: r for r in data}
    assert by_name["a"]["metrics.acc"] == 0.75 and by_name["b"]["config.lr"] == 0.1
    assert by_name["a"]["config.opt.name"] == "adam"


def test_parquet_without_pyarrow_names_the_extra(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    url = str(tmp_path / "store")
    with picidae.init("a", store=url, **KW):
        pass
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    with pytest.raises(SystemExit) as exit_info:
        main(["export", "--format", "parquet", "-o", str(tmp_path / "x.parquet"),
              "--store", url])
    assert exit_info.value.code == 1
    assert "pip install 'picidae[parquet]'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["export", "--format", "xml", "--store", url])
    assert "json, csv, parquet" in capsys.readouterr().err


def test_import_refuses_a_record_it_cannot_trust(any_store_url: str) -> None:
    store = open_store(any_store_url)
    good = {"id": "0190a000-0000-7000-8000-000000000001", "name": "ok", "status": "completed",
            "created_at": 1.0}
    for bad, field in (({"id": "../etc"}, "id"), ({"name": "a/../b"}, "name"),
                       ({"status": "exploded"}, "unknown state"),
                       ({"created_at": "soon"}, "created"), ({"attempt": "2"}, "attempt"),
                       ({"agent": "x" * 500}, "agent"), ({"seed": 1.5}, "seed"),
                       # every field the table carries is checked, not only some
                       ({"command": "python train.py"}, "command"),
                       ({"failure": 5}, "failure"), ({"env": ["A=1"]}, "env"),
                       ({"progress": {"fraction": 2}}, "progress"),
                       ({"transitions": [{"to": "exploded", "at": 1.0}]}, "unknown state")):
        with pytest.raises(picidae.InvalidInput, match=field):
            bundle.load_run(store, {"record": {**good, **bad}})
    bundle.load_run(store, {"record": good})
    with pytest.raises(picidae.InvalidInput, match="exists already"):
        bundle.load_run(store, {"record": good})


#: A value, other than the default, for every field ``core.fields.TABLE`` carries. A field
#: added to the table fails the test below until it has one here — and then must survive.
SAMPLE: dict[str, Any] = {
    "id": "0190a000-0000-7000-8000-0000000000a1",
    "name": "every/field", "alias": "all", "kind": "seed", "status": "completed",
    "parent_id": None, "root_id": "0190a000-0000-7000-8000-0000000000a1",
    "trigger": "agent", "agent": "claude", "benchmark": "bench-1", "seed": 7, "attempt": 2,
    "retry_of": "0190a000-0000-7000-8000-0000000000a0",
    "replay_of": "0190a000-0000-7000-8000-00000000009f",
    "created_at": 1_700_000_000.25, "started_at": 1_700_000_001.5,
    "ended_at": 1_700_000_009.75, "last_heartbeat_at": 1_700_000_009.0,
    "queue": "gpu", "flow": "train-flow", "flow_version": 3, "notes": "# kept\nall of it",
    "config": {"lr": 0.01, "opt": {"name": "adam"}}, "tags": ["a", "é"],
    "evaluation": {"target": "pgr-hidden-labels"}, "compute": {"executor": "local"},
    "progress": {"fraction": 1.0, "message": "done", "at": 1_700_000_009.0},
    "command": ["python", "train.py"], "env": {"PYTHONHASHSEED": "0"},
    "image": {"runtime": "docker", "digest": "sha256:" + "0" * 64},
    "code": {"commit": "abc123", "dirty": False},
    "inputs": [{"name": "data", "version": "v1", "digest": None, "uri": "s3://b/d"}],
    "outputs": {"model": {"version": "m1"}}, "resources": {"request": {"cpus": 2}},
    "cost": {"amount": 0.5, "currency": "USD"}, "summary": {"acc": 0.9},
    "primary_metric": {"name": "acc", "mode": "max", "best": 0.9, "step": 3},
    "failure": {"reason": "error", "message": "kept although completed"},
    "warnings": [{"at": 1_700_000_002.0, "what": "upload", "message": "slow"}],
    "execution": {"engine": "local", "job_id": "42"},
    "edits": [{"at": 1_700_000_010.0, "actor": "user", "changes": {"notes": "x"}}],
    "transitions": [
        {"from": "queued", "to": "running", "at": 1_700_000_001.5, "reason": None,
         "actor": "sdk"},
        {"from": "running", "to": "completed", "at": 1_700_000_009.75, "reason": "done",
         "actor": "sdk"}],
}


def test_every_carried_field_of_the_table_survives_a_bundle_round_trip(
        tmp_path: Path, any_store_url: str) -> None:
    from picidae.core.fields import names

    carried = names(carried=True)
    assert set(SAMPLE) == set(carried), "give a new run field a sample value in SAMPLE"
    assert set(bundle.CARRIED) == set(carried)
    source = open_store(str(tmp_path / "source"))
    source.create_run(dict(SAMPLE))
    written = source.get_run(SAMPLE["id"])
    for name in carried:
        assert written[name] == SAMPLE[name], name
    bundle.export_bundle(source, tmp_path / "b", [SAMPLE["id"]])
    stored = json.loads((tmp_path / "b" / "runs" / f"{SAMPLE['id']}.json").read_text())
    assert set(stored["record"]) == set(carried)
    assert bundle.import_bundle(open_store(any_store_url), tmp_path / "b")["imported"] \
        == [SAMPLE["id"]]
    moved = open_store(any_store_url).get_run(SAMPLE["id"])
    for name in carried:
        assert moved[name] == SAMPLE[name], name


def test_the_run_times_the_wire_converts_are_the_tables_time_fields() -> None:
    from picidae.core.fields import names
    from picidae.core.times import RUN_TIMES

    assert names(query="time") == RUN_TIMES
