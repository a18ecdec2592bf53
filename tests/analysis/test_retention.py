"""Retention: ``picidae gc``, ``picidae.cleanup`` and ``picidae runs rm`` delete runs with
their children, metrics, logs and unreferenced blobs — and nothing a kept run needs."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import picidae
from picidae.analysis.bundle import load_run
from picidae.artifacts.registry import for_store
from picidae.cli import analysis as cli_analysis
from picidae.cli.main import main
from picidae.core.ids import new_id
from picidae.errors import InvalidInput, RunNotFound
from picidae.store.registry import open_store

DAY = 86400.0


def _add(store: Any, name: str, *, age_days: float, status: str = "completed",
         blobs: tuple[bytes, ...] = (), **fields: Any) -> str:
    """A run created ``age_days`` ago, with a metric, a log line and one artifact per blob."""
    at = time.time() - age_days * DAY
    run_id = new_id(at=at)
    arts = []
    for i, data in enumerate(blobs):
        astore = for_store(store)
        blob = astore.put(data)
        arts.append({"name": f"file-{i}.bin", "type": "checkpoint", "kind": "file",
                     "digest": blob.digest, "size": blob.size, "step": None,
                     "created_at": at, "caption": None, "metadata": {},
                     "location": astore.location})
    live = status in ("running", "queued")
    load_run(store, {
        "record": {"id": run_id, "name": name, "status": status, "created_at": at,
                   "started_at": at, "ended_at": None if live else at + 60,
                   "last_heartbeat_at": time.time() if status == "running" else None,
                   **fields},
        "metrics": [], "logs": [[at, "stdout", "hello"]], "artifacts": arts})
    return run_id


def _exists(store: Any, run_id: str) -> bool:
    try:
        store.get_run(run_id)
    except RunNotFound:
        return False
    return True


def _digest(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def test_gc_deletes_old_trees_and_their_blobs_and_keeps_everything_referenced(
        where_store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PICIDAE_ARTIFACTS", str(tmp_path / "artifacts"))
    store = open_store(where_store_url)
    astore = for_store(store)
    shared, own, childs = b"shared weights", b"old only", b"child only"
    old = _add(store, "old", age_days=40, blobs=(shared, own))
    old_child = _add(store, "old/seed-1", age_days=40, parent_id=old, root_id=old,
                     blobs=(childs,))
    kept = _add(store, "recent", age_days=1, blobs=(shared,))
    retried = _add(store, "old-failed", age_days=40, status="failed")
    retry = _add(store, "old-failed", age_days=1, retry_of=retried, attempt=2)
    producer = _add(store, "old-producer", age_days=40, outputs={"ds": {"version": "v1"}})
    consumer = _add(store, "reader", age_days=1, inputs=[{"name": "ds", "version": "v1"}])
    live = _add(store, "old-live", age_days=40, status="running")
    live_parent = _add(store, "old-parent", age_days=40)
    _add(store, "old-parent/live-child", age_days=40, status="running", parent_id=live_parent,
         root_id=live_parent)

    plan = picidae.cleanup(older_than="30d", dry_run=True, store=where_store_url)
    assert sorted(plan) == sorted([old, old_child])
    assert _exists(store, old)  # a dry run removes nothing

    from picidae.analysis.retention import gc

    done = gc(store, older_than="30d")
    assert done["roots"] == [old] and sorted(done["deleted"]) == sorted([old, old_child])
    assert sorted(done["blobs"]) == sorted([_digest(own), _digest(childs)])
    assert {k["id"] for k in done["kept"]} == {retried, producer, live_parent}
    for run_id in (old, old_child):
        assert not _exists(store, run_id)
    for run_id in (kept, retried, retry, producer, consumer, live, live_parent):
        assert _exists(store, run_id)
    assert astore.exists(_digest(shared))  # a kept run still uses it
    assert not astore.exists(_digest(own)) and not astore.exists(_digest(childs))
    assert store.logs(old) == [] and store.metric_keys(old) == []
    assert store.list_artifacts(kept)[0]["digest"] == _digest(shared)


def test_cleanup_keep_last_counts_top_level_runs(any_store_url: str) -> None:
    store = open_store(any_store_url)
    ids = [_add(store, f"r{i}", age_days=10 - i) for i in range(5)]  # ids[-1] is newest
    child = _add(store, "r0/child", age_days=0.5, parent_id=ids[0], root_id=ids[0])
    removed = picidae.cleanup(keep_last=2, store=any_store_url)
    assert sorted(removed) == sorted([ids[0], child, ids[1], ids[2]])
    left = {r.id for r in picidae.runs(store=any_store_url, include_archived=True)}
    assert left == {ids[3], ids[4]}
    assert picidae.cleanup(older_than=3600, keep_last=0, status=["failed"],
                           store=any_store_url) == []
    with pytest.raises(InvalidInput, match="say what to remove"):
        picidae.cleanup(store=any_store_url)
    with pytest.raises(InvalidInput, match="only deletes ended runs"):
        picidae.cleanup(keep_last=1, status=["running"], store=any_store_url)


def test_gc_cli_prints_what_it_removes_and_honours_where(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = str(tmp_path / "store")
    store = open_store(url)
    a = _add(store, "sweep/a", age_days=40)
    b = _add(store, "other/b", age_days=40)
    main(["gc", "--older-than", "30d", "--where", 'name like "sweep/%"', "--dry-run",
          "--store", url])
    out = capsys.readouterr().out
    assert f"would remove {a}" in out and b not in out and _exists(store, a)
    main(["gc", "--older-than", "30d", "--json", "--store", url])
    data = json.loads(capsys.readouterr().out)
    assert sorted(data["deleted"]) == sorted([a, b]) and not data["dry_run"]
    with pytest.raises(SystemExit) as exit_info:
        main(["gc", "--store", url])
    assert exit_info.value.code == 1
    assert "--older-than" in capsys.readouterr().err


def test_runs_rm_without_a_terminal_and_without_yes_refuses(
        tmp_path: Path, subprocess_env: dict[str, str]) -> None:
    url = str(tmp_path / "store")
    run_id = _add(open_store(url), "doomed", age_days=1)
    done = subprocess.run([sys.executable, "-m", "picidae", "runs", "rm", run_id, "--store",
                           url], stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          env=subprocess_env, timeout=60, check=False)
    assert done.returncode == 1
    assert done.stderr.strip().count("\n") == 0 and "--yes" in done.stderr
    assert _exists(open_store(url), run_id)


def test_runs_rm_asks_and_deletes_only_on_yes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    url = str(tmp_path / "store")
    store = open_store(url)
    parent = _add(store, "doomed", age_days=1)
    child = _add(store, "doomed/child", age_days=1, parent_id=parent, root_id=parent)
    monkeypatch.setattr(cli_analysis, "_interactive", lambda: True)
    monkeypatch.setattr(sys, "stdin", io.StringIO("n\n"))
    with pytest.raises(SystemExit) as exit_info:
        main(["runs", "rm", parent, "--store", url])
    assert exit_info.value.code == 130
    assert "1 run(s) and 1 run(s) under them" in capsys.readouterr().out
    assert _exists(store, parent) and _exists(store, child)
    monkeypatch.setattr(sys, "stdin", io.StringIO("y\n"))
    main(["runs", "rm", parent, "--store", url])
    assert "Removed 2 runs" in capsys.readouterr().out
    assert not _exists(store, parent) and not _exists(store, child)


def test_runs_rm_yes_refuses_live_and_referenced_runs(any_store_url: str,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    url = any_store_url
    store = open_store(url)
    live = _add(store, "live", age_days=1, status="running")
    original = _add(store, "original", age_days=2, status="failed")
    retry = _add(store, "original", age_days=1, retry_of=original, attempt=2)
    for run_id, message in ((live, "is running: cancel it first"),
                            (original, f"referenced by run {retry} (retry)")):
        with pytest.raises(SystemExit):
            main(["runs", "rm", run_id, "--yes", "--store", url])
        assert message in capsys.readouterr().err
        assert _exists(store, run_id)
    main(["runs", "rm", original, retry, "--yes", "--json", "--store", url])
    assert sorted(json.loads(capsys.readouterr().out)["deleted"]) == sorted([original, retry])
    assert not _exists(store, original) and not _exists(store, retry)


def test_archive_moves_runs_out_of_default_listings(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = str(tmp_path / "store")
    run_id = _add(open_store(url), "done", age_days=1)
    main(["archive", run_id, "--store", url])
    assert f"archived {run_id}" in capsys.readouterr().out
    main(["runs", "ls", "--json", "--store", url])
    assert json.loads(capsys.readouterr().out) == []
    main(["runs", "ls", "--all", "--json", "--store", url])
    assert [(r["id"], r["status"]) for r in json.loads(capsys.readouterr().out)] == \
        [(run_id, "archived")]
