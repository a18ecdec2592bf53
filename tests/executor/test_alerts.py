"""Alerts: rules stored in the database, delivered by real server processes to a real HTTP
receiver on loopback, once per alert, retried until the receiver takes it."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from typing import Any

import pytest

import picidae
from picidae.executor import alerts
from picidae.store.capabilities import AlertStore, EventSource
from picidae.store.registry import open_store
from processes import Receiver, ServerProcess

from .conftest import Cli, wait_for


@pytest.fixture
def receiver() -> Any:
    rec = Receiver().start()
    yield rec
    rec.stop()


@pytest.fixture(autouse=True)
def _quick_heartbeats(monkeypatch: pytest.MonkeyPatch) -> None:
    # Runs of this process heartbeat often, so a server with a short timeout keeps them.
    monkeypatch.setenv("PICIDAE_HEARTBEAT_INTERVAL_S", "0.5")


@pytest.mark.parametrize("args", [
    ["--on", "failed", "--where", "status = ", "--webhook", "http://127.0.0.1:9/x"],
    ["--when", "metrics.loss >", "--webhook", "http://127.0.0.1:9/x"],
    ["--on", "failed", "--webhook", "ftp://example.com/x"],
    ["--on", "exploded", "--webhook", "http://127.0.0.1:9/x"],
    ["--on", "failed"],
    ["--on", "failed", "--webhook", "http://a/x", "--slack", "https://hooks.slack.com/x"],
    ["--webhook", "http://127.0.0.1:9/x"],
])
def test_bad_input_exits_2_with_one_line_and_stores_nothing(
        args: list[str], cli: Cli, sqlite_url: str) -> None:
    proc = cli("alerts", "add", "bad", *args, "--store", sqlite_url, check=False)
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    assert json.loads(cli("alerts", "ls", "--json", "--store", sqlite_url).stdout) == []


def test_ls_rm_and_test_post_to_the_receiver(cli: Cli, sqlite_url: str,
                                            receiver: Receiver) -> None:
    cli("alerts", "add", "oncall", "--on", "failed,lost", "--where", "tags contains 'prod'",
        "--webhook", f"{receiver.url}/hook", "--store", sqlite_url)
    listed = json.loads(cli("alerts", "ls", "--json", "--store", sqlite_url).stdout)
    assert [(r["name"], r["on"], r["where"], r["kind"]) for r in listed] == [
        ("oncall", ["failed", "lost"], "tags contains 'prod'", "webhook")]
    taken = cli("alerts", "add", "oncall", "--on", "failed", "--webhook", receiver.url,
                "--store", sqlite_url, check=False)
    assert taken.returncode == 2 and "exists" in taken.stderr
    cli("alerts", "test", "oncall", "--store", sqlite_url)
    [body] = receiver.at("/hook")
    assert body["alert"] == "oncall" and body["level"] == "info" and "title" in body
    cli("alerts", "rm", "oncall", "--store", sqlite_url)
    assert json.loads(cli("alerts", "ls", "--json", "--store", sqlite_url).stdout) == []
    gone = cli("alerts", "test", "oncall", "--store", sqlite_url, check=False)
    assert gone.returncode == 1 and "no alert named 'oncall'" in gone.stderr


def _deliveries(store_url: str) -> list[dict[str, Any]]:
    store = open_store(store_url)
    assert isinstance(store, AlertStore)
    return store.alerts().deliveries()


def test_each_trigger_posts_exactly_once(cli: Cli, sqlite_url: str, receiver: Receiver,
                                         env: dict[str, str]) -> None:
    hook = receiver.url
    for name, args in [("fail", ["--on", "failed"]), ("lost", ["--on", "lost"]),
                       ("note", ["--on", "alert"]), ("loss", ["--when", "metrics.loss > 10"])]:
        cli("alerts", "add", name, *args, "--webhook", f"{hook}/{name}", "--store", sqlite_url)
    cli("alerts", "add", "done", "--on", "completed", "--where", "name = 'noted'",
        "--slack", f"{hook}/slack", "--store", sqlite_url)
    server = ServerProcess(sqlite_url, {**env, "PICIDAE_HEARTBEAT_TIMEOUT_S": "2",
                                        "PICIDAE_PUBLIC_URL": "http://picidae.test"}).start()
    try:
        failing = picidae.init("failing", store=sqlite_url)
        failing.fail(message="CUDA out of memory")
        # A process that dies without a word: the server's watchdog finds the run lost.
        subprocess.run([sys.executable, "-c", "import os, picidae; r = picidae.init("
                        f"'vanished', store={sqlite_url!r}); r.flush(); os._exit(0)"],
                       env={**env, "PICIDAE_HEARTBEAT_INTERVAL_S": "60"}, check=True,
                       timeout=60)
        noted = picidae.init("noted", store=server.url)  # through the server's API
        noted.alert("val/acc plateaued", "since step 400", level="warn").finish()
        hot = picidae.init("diverging", store=sqlite_url)
        hot.log(loss=5.0).flush()
        hot.log(loss=20.0).flush()
        wait_for(lambda: receiver.at("/loss"), timeout=30)
        hot.log(loss=30.0).finish()  # still above: no second alert
        wait_for(lambda: all(receiver.at(f"/{p}") for p in ("fail", "lost", "note", "slack")),
                 timeout=30)
        time.sleep(2)  # a few more ticks: nothing is delivered twice
    finally:
        server.stop()
    counts = Counter(path for path, _ in receiver.posts)
    assert counts == {"/fail": 1, "/lost": 1, "/note": 1, "/loss": 1, "/slack": 1}, counts
    [fail] = receiver.at("/fail")
    assert fail["run"] == {"id": failing.id, "name": "failing", "status": "failed",
                           "url": f"http://picidae.test/runs/{failing.id}"}
    assert fail["level"] == "error" and fail["text"] == "CUDA out of memory"
    assert fail["alert"] == "fail" and fail["at"].endswith("Z")
    [lost] = receiver.at("/lost")
    assert lost["run"]["name"] == "vanished" and lost["run"]["status"] == "lost"
    [note] = receiver.at("/note")
    assert (note["title"], note["text"], note["level"]) == ("val/acc plateaued",
                                                            "since step 400", "warn")
    assert note["run"]["id"] == noted.id
    [loss] = receiver.at("/loss")
    assert loss["run"]["id"] == hot.id and "metrics.loss > 10" in loss["title"]
    [slack] = receiver.at("/slack")
    assert set(slack) == {"text", "blocks"} and "noted" in slack["text"]
    assert all(d["status"] == "delivered" and d["attempts"] == 1
               for d in _deliveries(sqlite_url))


def test_an_alert_waits_for_a_receiver_that_is_down(cli: Cli, sqlite_url: str,
                                                    env: dict[str, str]) -> None:
    receiver = Receiver()  # not listening yet
    cli("alerts", "add", "page", "--on", "alert", "--webhook", f"{receiver.url}/page",
        "--store", sqlite_url)
    server = ServerProcess(sqlite_url, env).start()
    try:
        run = picidae.init("night-job", store=sqlite_url)
        run.alert("disk almost full", level="error").flush()
        wait_for(lambda: any(d["attempts"] >= 2 for d in _deliveries(sqlite_url)), timeout=30)
        receiver.start()
        try:
            wait_for(lambda: receiver.at("/page"), timeout=30)
            time.sleep(2)
        finally:
            receiver.stop()
        run.finish()
    finally:
        server.stop()
    [body] = receiver.at("/page")
    assert body["title"] == "disk almost full" and body["run"]["id"] == run.id
    [delivery] = _deliveries(sqlite_url)
    assert delivery["status"] == "delivered" and delivery["attempts"] >= 3
    store = open_store(sqlite_url)
    assert isinstance(store, EventSource)
    attempts = [e["payload"] for e in store.event_reader(0, run_id=run.id).poll()
                if e["type"] == "alert.delivery"]
    assert [a["ok"] for a in attempts] == [False] * (len(attempts) - 1) + [True]
    assert attempts[0]["detail"] and attempts[-1]["status"] == "delivered"


def test_two_servers_on_one_database_deliver_each_alert_once(
        cli: Cli, pg_url: str, receiver: Receiver, env: dict[str, str]) -> None:
    cli("alerts", "add", "any", "--on", "alert,failed", "--webhook", f"{receiver.url}/any",
        "--store", pg_url)
    servers = [ServerProcess(pg_url, env).start() for _ in range(2)]
    try:
        ids = []
        for i in range(4):
            run = picidae.init(f"r{i}", store=servers[i % 2].url)
            run.alert(f"alert {i}").flush()
            run.fail(message=f"boom {i}")
            ids.append(run.id)
        wait_for(lambda: len(receiver.posts) >= 8, timeout=40)
        time.sleep(2)
    finally:
        for srv in servers:
            srv.stop()
    seen = Counter((b["run"]["id"], b["title"]) for _, b in receiver.posts)
    assert len(seen) == 8 and max(seen.values()) == 1, seen
    assert {run_id for run_id, _ in seen} == set(ids)


def test_run_alert_checks_its_arguments(sqlite_url: str) -> None:
    run = picidae.init("x", store=sqlite_url)
    with pytest.raises(picidae.InvalidInput, match="level"):
        run.alert("t", level="fatal")
    with pytest.raises(picidae.InvalidInput, match="title"):
        run.alert("")
    run.finish()
    assert picidae.init("y", store=sqlite_url).finish() is not None
    picidae.set_enabled(False)
    try:
        assert picidae.init("z").alert("ignored") is not None
    finally:
        picidae.set_enabled(True)


def test_a_servers_rules_are_its_servers_to_deliver(tmp_path: Any) -> None:
    served = open_store("http://127.0.0.1:9")  # never contacted
    assert isinstance(served, AlertStore) and not alerts.delivers_here(served)
    with pytest.raises(picidae.InvalidInput, match="done by the server"):
        alerts.book(served).due()


def test_a_worker_delivers_what_its_runs_fire(cli: Cli, sqlite_url: str,
                                              receiver: Receiver) -> None:
    cli("alerts", "add", "broken", "--on", "failed", "--webhook", f"{receiver.url}/broken",
        "--store", sqlite_url)
    cli("submit", "--name", "exits-3", "--store", sqlite_url, "--", sys.executable, "-c",
        "raise SystemExit(3)")
    cli("worker", "--once", "--store", sqlite_url)  # no server anywhere
    [body] = receiver.at("/broken")
    assert body["run"]["name"] == "exits-3" and body["run"]["status"] == "failed"


def test_a_deliverer_starts_again_after_a_stop(sqlite_url: str, receiver: Receiver) -> None:
    # An ASGI app's lifespan may run more than once (test clients, schemathesis).
    alerts.add("again", "alert", webhook=f"{receiver.url}/again", store=sqlite_url)
    deliverer = alerts.Deliverer(open_store(sqlite_url), tick_s=0.05)
    deliverer.start()
    deliverer.stop()
    deliverer.start()
    try:
        picidae.init("r", store=sqlite_url).alert("twice started").finish()
        wait_for(lambda: receiver.at("/again"), timeout=20)
    finally:
        deliverer.stop()
