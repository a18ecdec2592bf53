"""``picidae.events()`` on the embedded store and through a server."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

import picidae


def _collect(store: str, since: int | None, out: list[dict], ready: threading.Event,
             n: int) -> None:
    stream = picidae.events(store=store, since=since, timeout=5)
    ready.set()
    for event in stream:
        if event["type"] == "run.artifact":  # environment capture uploads in the background
            continue
        out.append(event)
        if len(out) >= n:
            return


@pytest.mark.parametrize("where", ["embedded", "server"])
def test_events_yield_new_runs_and_transitions_in_order(where: str, store_dir: Path, request):
    store = str(store_dir) if where == "embedded" else request.getfixturevalue("server").url
    picidae.init("before", store=store).finish()
    got: list[dict] = []
    ready = threading.Event()
    watcher = threading.Thread(target=_collect, args=(store, None, got, ready, 3))
    watcher.start()
    ready.wait(5)
    import time

    time.sleep(0.5)  # the stream starts at the present: let it settle
    run = picidae.init("after", store=store).summary({"acc": 0.5}).finish()
    watcher.join(20)
    assert [e["type"] for e in got] == ["run.created", "run.transition", "run.summary"]
    assert all(e["run_id"] == run.id for e in got)
    assert got[1]["from"] == "queued" and got[1]["to"] == "running"
    replay = list(picidae.events(store=store, since=0, timeout=0.5))
    assert [e["id"] for e in replay] == sorted(e["id"] for e in replay)
    assert sum(e["type"] == "run.created" for e in replay) == 2
    resumed = list(picidae.events(store=store, since=got[0]["id"], timeout=0.5))
    assert resumed[0]["id"] == got[1]["id"]


def test_events_refuse_a_bad_cursor(store_dir: Path):
    with pytest.raises(picidae.InvalidInput):
        next(picidae.events(store=store_dir, since=-1))
