"""Heartbeats of many runs at once: a server writes the heartbeats waiting at one moment in
one transaction (``server/beats.py``, ``BeatStore.heartbeat_many``); each caller still gets
its own run's answer, as if it had been alone."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

import picidae
from picidae.core.record import new_record
from picidae.errors import RunFinished, RunNotFound
from picidae.store.capabilities import BeatStore
from picidae.store.registry import open_store


def test_concurrent_heartbeats_each_get_their_runs_answer(store_url: str) -> None:
    store = open_store(store_url)
    live = [str(store.create_run(new_record(f"hb/{i}"))["id"]) for i in range(12)]
    ended = picidae.init("hb/ended", store=store_url, capture_env=False).finish().id
    calls = [*live, ended, "no-such-run"] * 3

    def beat(run_id: str) -> str:
        try:
            return store.heartbeat(run_id)
        except RunFinished:
            return "finished"
        except RunNotFound:
            return "not found"

    with ThreadPoolExecutor(16) as pool:  # over http, the server coalesces these
        answers = list(pool.map(beat, calls))
    want = {**dict.fromkeys(live, "running"), ended: "finished", "no-such-run": "not found"}
    assert answers == [want[r] for r in calls]
    assert store.get_run(live[0])["last_heartbeat_at"] is not None
    assert store.get_run(ended)["status"] == "completed"


@pytest.mark.not_http("heartbeat_many is the SQL stores' (a server's store); over http the "
                      "test above reaches it through the server")
def test_heartbeat_many_answers_in_order_and_recovers_lost_runs(store_url: str) -> None:
    store = open_store(store_url)
    assert isinstance(store, BeatStore)
    live, lost = (str(store.create_run(new_record(n))["id"]) for n in ("live", "lost"))
    ended = picidae.init("ended", store=store_url, capture_env=False).finish().id
    later = time.time() + 1000  # past the default 900 s heartbeat timeout
    store.apply_liveness(now=later)
    assert store.get_run(lost)["status"] == "lost"
    answers = store.heartbeat_many([
        ("default", lost, later + 1), ("default", ended, later + 1),
        ("default", "no-such-run", later + 1), ("other", live, later + 1),
        ("default", live, later + 2), ("default", live, later + 3)])
    assert answers[0] == "running" and answers[4:] == ["running", "running"]
    assert isinstance(answers[1], RunFinished) and isinstance(answers[2], RunNotFound)
    assert isinstance(answers[3], RunNotFound)  # another workspace's id is not this one's
    assert store.get_run(live)["last_heartbeat_at"] == later + 3
    moves = [(t["from"], t["to"]) for t in store.get_run(lost)["transitions"]]
    assert moves[-2:] == [("running", "lost"), ("lost", "running")]
