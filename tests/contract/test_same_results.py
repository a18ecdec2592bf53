"""The same SDK program gives the same stored runs on every store (ids and times aside)."""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import picidae
from picidae.sdk.writer import writer


def _plain(value: Any) -> Any:
    """``value`` with NaN spelled out, so equal records compare equal."""
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


_IDS = ("id", "parent_id", "root_id", "retry_of", "replay_of")
_TIMES = ("created_at", "started_at", "ended_at", "last_heartbeat_at", "duration_s")


def snapshot(rv: picidae.RunView, names: dict[str, str]) -> dict[str, Any]:
    """A run as everything a reader sees, with ids replaced by run names and times dropped."""
    rec = rv.to_dict()
    for field in _IDS:
        rec[field] = names.get(rec[field], rec[field]) if rec[field] else None
    for field in _TIMES:
        rec.pop(field)
    rec["transitions"] = [
        {"from": t["from"], "to": t["to"], "actor": t["actor"],
         # the watchdog's reason quotes the seconds it waited, which timing decides
         "reason": re.sub(r"\d+(\.\d+)?s", "Ns", t["reason"] or "")}
        for t in rec["transitions"]]
    if rec.get("progress"):
        rec["progress"] = {k: v for k, v in rec["progress"].items() if k != "at"}
    if rec.get("failure"):
        rec["failure"] = {k: (v if k != "traceback" else v.splitlines()[-1])
                          for k, v in rec["failure"].items()}
    rec["metrics"] = {key: [(p.step, p.value, p.stage) for p in rv.metrics(key)]
                      for key in rv.metric_keys()}
    rec["latest"] = rv.latest_metrics()
    rec["logs"] = [(line.stream, line.text) for line in rv.logs()]
    rec["children"] = [child.name for child in rv.children()]
    rec["children_stats"] = rv.children_stats()
    return _plain(rec)


def sdk_program(store: str, monkeypatch: pytest.MonkeyPatch,
                tick: Callable[[], object] = lambda: None) -> dict[str, Any]:
    """Record a small study through the public SDK; return what the store gives back.
    ``tick`` applies the heartbeat knobs where reads do not (a server's own watchdog)."""
    study = picidae.init("study/resnet", config={"lr": 0.01, "opt": {"name": "sgd", "m": 0.9}},
                         tags=["ablation", "v1"], store=store, seed=7, agent="tester",
                         benchmark="cifar10", capture_env=False)
    study.set_primary_metric("val_acc", "max")
    for step in range(0, 30):
        study.log(loss=1.0 / (step + 1), lr=0.01 * 0.9 ** step)
        if step % 10 == 9:
            study.log({"val_acc": 0.5 + step / 100}, step=step, stage="val")
    study.log(weird=float("nan"), inf=float("inf"), ninf=-math.inf, step=100)
    study.log_config({"opt": {"wd": 1e-4}, "batch": 128})
    study.summary({"best": {"acc": 0.79}, "nan": float("nan"), "note": "ok"})
    study.output("checkpoint", "s3://bucket/ckpt")
    study.progress(0.5, "half way")
    study.log_text("first line\nsecond line\nwith a \x00 nul")
    study.heartbeat()
    for seed in range(3):
        child = study.child(kind="seed", seed=seed, config={"seed": seed}, capture_env=False)
        child.log(acc=0.7 + seed / 10, step=1).log(acc=0.8 + seed / 10, step=2)
        child.summary({"final": 0.8 + seed / 10})
        if seed == 0:
            child.fail("error", message="diverged")
        elif seed == 1:
            child.cancel("not needed")
        else:
            child.transition("evaluating", reason="scoring")
            child.finish()
    study.transition("evaluating")
    study.summary({"best": {"acc": 0.81}})
    study.finish()

    before_crash = time.time()
    with pytest.raises(RuntimeError), picidae.init("study/crash", store=store,
                                                   capture_env=False) as crashed:
        crashed.log(loss=2.0)
        raise RuntimeError("boom")

    # lost -> running on a heartbeat, then lost -> failed past the recovery window
    quiet = picidae.init("study/quiet", store=store, capture_env=False)
    quiet.log(loss=3.0)
    quiet.flush()
    # Let init's background capture land first: on PostgreSQL a read's liveness pass skips a
    # run whose row another transaction holds at that instant, and the next read catches up.
    background = getattr(quiet, "_background", None)
    if background is not None:
        background.wait()
    monkeypatch.setenv("PICIDAE_HEARTBEAT_TIMEOUT_S", "0.3")
    monkeypatch.setenv("PICIDAE_LOST_WINDOW_S", "1.0")
    time.sleep(0.4)
    tick()
    assert picidae.get_run(quiet.id, store=store).status == "lost"
    quiet.heartbeat()
    assert picidae.get_run(quiet.id, store=store).status == "running"
    time.sleep(0.4)
    tick()
    assert picidae.get_run(quiet.id, store=store).status == "lost"
    time.sleep(1.1)
    tick()
    assert picidae.get_run(quiet.id, store=store).status == "failed"
    writer().unregister(quiet)
    monkeypatch.delenv("PICIDAE_HEARTBEAT_TIMEOUT_S")
    monkeypatch.delenv("PICIDAE_LOST_WINDOW_S")

    everything = picidae.runs(store=store, order_by="name")
    names = {rv.id: rv.name for rv in everything}
    out: dict[str, Any] = {rv.name: snapshot(picidae.get_run(rv.id, store=store), names)
                           for rv in everything}
    listings = {
        "all": picidae.runs(store=store),
        "completed": picidae.runs(store=store, status="completed"),
        "ended": picidae.runs(store=store, status=["failed", "canceled"]),
        "glob": picidae.runs(store=store, name="study/resnet/*"),
        "parent": picidae.runs(store=store, parent=study.id, order_by="name desc"),
        "kind": picidae.runs(store=store, kind="seed", order_by="metrics.acc desc"),
        "tags": picidae.runs(store=store, tags=["ablation"]),
        "summary": picidae.runs(store=store, order_by="summary.final desc, name"),
        "config": picidae.runs(store=store, order_by="config.seed desc"),
        "limit": picidae.runs(store=store, order_by="created_at", limit=2),
        "after": picidae.runs(store=store, created_after=before_crash),
    }
    out["listings"] = {key: [rv.name for rv in views] for key, views in listings.items()}
    return out


def test_same_sdk_program_gives_identical_runs_on_sqlite_postgresql_and_http(
        tmp_path: Path, pg_url: str, fresh_pg_url: Callable[[], str], replicas: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # not this checkout: its git state changes between the runs
    on_sqlite = sdk_program(str(tmp_path / "store"), monkeypatch)
    on_postgres = sdk_program(pg_url, monkeypatch)
    assert on_sqlite.keys() == on_postgres.keys()
    for name in on_sqlite:
        assert on_postgres[name] == on_sqlite[name], name
    # and through a server process over (another) PostgreSQL database, whose watchdog keeps
    # the default knobs: the test applies the tiny ones to that database itself
    behind = fresh_pg_url()
    [server] = replicas(1, store=behind)
    from picidae.store.registry import open_store

    on_http = sdk_program(server.url, monkeypatch, tick=lambda: open_store(behind)
                          .apply_liveness())
    assert on_http.keys() == on_sqlite.keys()
    for name in on_sqlite:
        assert on_http[name] == on_sqlite[name], name
    # and the program recorded what it meant to
    study = on_sqlite["study/resnet"]
    assert study["status"] == "completed"
    assert study["primary_metric"] == {"name": "val_acc", "mode": "max", "best": 0.79,
                                       "step": 29}
    assert study["summary"] == {"best": {"acc": 0.81}, "nan": "nan", "note": "ok"}
    assert study["latest"]["weird"] == "nan" and study["latest"]["inf"] == math.inf
    assert study["logs"][-1] == ["log", "with a \ufffd nul"]
    assert study["children"] == ["study/resnet/seed-0", "study/resnet/seed-1",
                                              "study/resnet/seed-2"]
    assert on_sqlite["study/quiet"]["failure"]["reason"] == "lost"
    assert [t["to"] for t in on_sqlite["study/quiet"]["transitions"]] == [
        "running", "lost", "running", "lost", "failed"]
    assert on_sqlite["study/crash"]["failure"]["message"] == "RuntimeError: boom"
    assert on_sqlite["listings"]["kind"] == ["study/resnet/seed-2", "study/resnet/seed-1",
                                             "study/resnet/seed-0"]


def test_where_filters_agree_on_sqlite_and_postgresql(
        tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    queries = [
        'config.lr = 0.01',
        'config.lr > 0.005 and status = "completed"',
        'metrics.acc > 0.5',
        'tags contains "b"',
        'summary.note = "x"',
    ]

    def program(store: str) -> list[list[str]]:
        for i in range(4):
            with picidae.init(f"w/{i}", config={"lr": 0.01 * i}, tags=["ab"[i % 2]],
                              store=store, capture_env=False) as run:
                run.log(acc=i / 4)
                run.summary({"note": "x" if i % 2 else "y"})
        return [[rv.name for rv in picidae.runs(store=store, where=q, order_by="name")]
                for q in queries]

    assert program(str(tmp_path / "store")) == program(pg_url)
