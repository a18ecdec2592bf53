"""A run that has ended refuses further writes from any process (``RunFinished``, HTTP 409),
on every store, with the same message; what the refusing store was sent is not stored."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

import picidae
from picidae.store.base import Batch
from picidae.store.registry import open_store

SECOND = """
    import json, os, sys, time
    from array import array
    import picidae
    from picidae.core.run import LogLine
    from picidae.store.base import Batch, SeriesChunk
    from picidae.store.registry import open_store

    url, run_id, go = sys.argv[1], sys.argv[2], sys.argv[3]
    run = picidae.init(id=run_id, store=url)   # attached while the run was running
    print("ready", flush=True)
    while not os.path.exists(go):
        time.sleep(0.01)
    for step in range(200):                    # keeps writing after the other process ended it
        run.log(late=float(step))
        run.log_text(f"late line {step}")
    run.summary({"late": True})
    run.flush()
    run.flush()
    print("status", run.status, flush=True)    # what this process now knows

    store, now = open_store(url), time.time()
    kinds = {
        "points": Batch(chunks=[SeriesChunk("late", None, array("q", [0]), array("d", [1.0]),
                                            array("d", [now]))]),
        "logs": Batch(logs=[LogLine(now, "stdout", "late")]),
        "summary": Batch(summary={"late": 1}),
        "config": Batch(config={"late": 1}),
        "fields": Batch(fields={"progress": {"fraction": 1.0, "message": None, "at": now}}),
    }
    said = {}
    for kind, batch in kinds.items():
        try:
            store.write(run_id, batch)
            said[kind] = "stored"
        except picidae.PicidaeError as exc:
            said[kind] = [type(exc).__name__, str(exc)]
    try:
        store.heartbeat(run_id)
        said["heartbeat"] = "stored"
    except picidae.PicidaeError as exc:
        said["heartbeat"] = [type(exc).__name__, str(exc)]
    run.finish()                               # warns: it was ended elsewhere
    print(json.dumps(said), flush=True)
"""


def test_a_second_process_writing_to_a_finished_run_is_refused_and_nothing_is_stored(
        store_url: str, write_script: Callable[[str], Path], store_env: dict[str, str],
        tmp_path: Path) -> None:
    run = picidae.init("finished-elsewhere", store=store_url, config={"lr": 0.1},
                       capture_env=False)
    run.log(x=1.0).summary({"acc": 0.5}).flush()
    go = tmp_path / "go"
    proc = subprocess.Popen([sys.executable, str(write_script(SECOND)), store_url, run.id,
                             str(go)], env=store_env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready", proc.communicate()[1]
    run.finish()
    go.touch()
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err  # the second process is told, not crashed

    lines = out.strip().splitlines()
    assert "status completed" in lines
    said = json.loads(lines[-1])
    message = (f"run {run.id} has ended (completed) and takes no more writes; start a new "
               f"run, or 'picidae replay {run.id}' to run it again")
    assert said == {kind: ["RunFinished", message]
                    for kind in ("points", "logs", "summary", "config", "fields", "heartbeat")}
    assert err.count("takes no more writes") == 1  # its background writer warned once
    assert "was already completed" in err

    rv = picidae.get_run(run.id, store=store_url)
    assert rv.status == "completed"
    assert rv.metric_keys() == ["x"]
    assert rv.summary == {"acc": 0.5} and rv.config == {"lr": 0.1}
    assert rv.progress is None
    assert not any("late" in str(line) for line in rv.logs())
    assert rv.transitions[-1]["to"] == "completed"


def test_every_write_to_an_ended_run_raises_run_finished(store_url: str) -> None:
    run = picidae.init("ended", store=store_url, capture_env=False).log(x=1.0)
    run.cancel(reason="abandoned")
    store = open_store(store_url)
    with pytest.raises(picidae.RunFinished, match=r"has ended \(canceled\)") as info:
        store.write(run.id, Batch(summary={"late": 1}))
    assert info.value.run_id == run.id and info.value.status == "canceled"
    assert isinstance(info.value, picidae.PicidaeError)
    with pytest.raises(picidae.RunFinished):
        store.heartbeat(run.id)
    with pytest.raises(picidae.RunFinished, match="cannot be attached"):
        picidae.init(id=run.id, store=store_url)
    assert picidae.get_run(run.id, store=store_url).summary == {}


def test_a_retried_batch_the_store_took_before_the_end_is_acknowledged(store_url: str) -> None:
    run = picidae.init("retried", store=store_url, capture_env=False)
    store = open_store(store_url)
    batch = Batch(summary={"k": 1}, batch_id="taken-before-the-end")
    store.write(run.id, batch)
    run.finish()
    store.write(run.id, batch)  # the first answer was lost; the retry must not fail
    assert picidae.get_run(run.id, store=store_url).summary == {"k": 1}


def test_an_ended_run_refuses_new_artifacts_and_keeps_those_logged_before_the_end(
        store_url: str, tmp_path: Path) -> None:
    (tmp_path / "model.pt").write_bytes(b"weights")
    run = picidae.init("artifacts-end", store=store_url, capture_env=False)
    run.log_artifact(tmp_path / "model.pt", type="checkpoint")
    run.finish()  # the upload lands before the final move
    store = open_store(store_url)
    before = store.list_artifacts(run.id)
    (kept,) = [a for a in before if a["name"] == "model.pt"]
    late = {k: v for k, v in kept.items() if k not in ("id", "location")}
    late["name"] = "late.pt"
    with pytest.raises(picidae.RunFinished, match=r"has ended \(completed\)"):
        store.add_artifact(run.id, late)
    with pytest.raises(picidae.RunFinished):
        run.log_artifact(tmp_path / "model.pt", name="later.pt")

    # A claimed run canceled under its worker: the worker's epilogue is log lines and usage
    # fields; an artifact is a result, refused like a metric point.
    queued = picidae.submit(["true"], name="claimed", store=store_url)
    (claimed,) = store.claim("w")
    assert claimed["id"] == queued.id
    store.transition(queued.id, "canceled", reason="user", actor="test")
    store.write(queued.id, Batch(fields={"cost": {"amount": 0.1}}))  # the epilogue: taken
    for run_id, status in ((queued.id, "canceled"), (run.id, "archived")):
        if status == "archived":
            store.transition(run_id, "archived", reason="tidy", actor="test")
        with pytest.raises(picidae.RunFinished, match=rf"has ended \({status}\)"):
            store.add_artifact(run_id, late)
    assert store.list_artifacts(run.id) == before
    assert store.list_artifacts(queued.id) == []
