"""Team mode on PostgreSQL with real ``picidae server`` processes: replicas on one database,
a server SIGKILLed mid-run, the watchdog on two replicas, late-committing events, tokens."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from typing import Any

import httpx
import pytest
from sqlalchemy import insert

import picidae

pytestmark = pytest.mark.slow


def _sse(url: str, out: list[tuple[float, dict[str, Any]]], ready: threading.Event) -> None:
    """Collect events until a run completes (artifact events from capture come and go)."""
    with httpx.stream("GET", f"{url}/api/v1/events", params={"timeout": 20},
                      timeout=30) as response:
        ready.set()
        for line in response.iter_lines():
            if line.startswith("data:"):
                event = json.loads(line[5:])
                if event["type"] != "run.artifact":
                    out.append((time.monotonic(), event))
                if event["type"] == "run.transition" and event["to"] == "completed":
                    return


def test_two_replicas_serve_the_same_runs_and_push_each_others_events(replicas) -> None:
    a, b = replicas(2)
    got: list[tuple[float, dict[str, Any]]] = []
    ready = threading.Event()
    watcher = threading.Thread(target=_sse, args=(b.url, got, ready), daemon=True)
    watcher.start()
    assert ready.wait(10)
    time.sleep(0.3)  # the stream starts at the present
    run = picidae.init("replicated", store=a.url, capture_env=False, config={"lr": 0.1})
    for i in range(200):
        run.log(loss=1 / (i + 1))
    run.log_text("hello")
    run.summary({"best": 0.5})
    run.flush()
    run.finish()
    finished = time.monotonic()
    watcher.join(15)
    on_a = picidae.get_run(run.id, store=a.url)
    on_b = picidae.get_run(run.id, store=b.url)
    assert on_b.to_dict() == {**on_a.to_dict(), "duration_s": on_b.duration_s}
    assert on_b.metrics("loss") == on_a.metrics("loss") and len(on_b.metrics("loss")) == 200
    assert [ln.text for ln in on_b.logs()] == ["hello"]
    kinds = [e["type"] for _, e in got]
    assert kinds == ["run.created", "run.transition", "run.summary", "run.transition"]
    assert [e["id"] for _, e in got] == sorted(e["id"] for _, e in got)
    # pushed on NOTIFY, not found by the 2 s fallback re-read
    assert got[-1][0] - finished < 1.0, got[-1][0] - finished


KILL_SCRIPT = """
import sys, time, picidae
run = picidae.init("through-a-crash", store=sys.argv[1], capture_env=False)
print(run.id, flush=True)
for i in range(int(sys.argv[2])):
    run.log(x=i)
    time.sleep(0.002)
run.finish()
print("finished", flush=True)
"""


def test_server_sigkilled_and_restarted_mid_run_on_postgresql_keeps_every_point_once(
        replicas, subprocess_env) -> None:
    [server] = replicas(1)
    env = {**subprocess_env, "PICIDAE_FLUSH_INTERVAL_S": "0.1"}
    n = 2000
    client = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, server.url, str(n)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=env)
    assert client.stdout is not None
    run_id = client.stdout.readline().strip()
    time.sleep(1.0)
    server.stop(kill=True)  # SIGKILL, mid-run
    time.sleep(1.0)
    server.start()
    out, err = client.communicate(timeout=120)
    assert "finished" in out, err
    rv = picidae.get_run(run_id, store=server.url)
    assert rv.status == "completed"
    assert rv.metrics("x").values == [float(i) for i in range(n)]


def test_watchdog_on_two_replicas_moves_each_silent_run_once(replicas, pg_url) -> None:
    a, b = replicas(2, PICIDAE_HEARTBEAT_TIMEOUT_S="0.5", PICIDAE_LOST_WINDOW_S="1")
    ids = [httpx.post(f"{(a, b)[i % 2].url}/api/v1/runs",
                      json={"name": f"silent/{i}", "status": "running"}).json()["id"]
           for i in range(6)]
    deadline = time.time() + 20
    while time.time() < deadline:
        states = {httpx.get(f"{a.url}/api/v1/runs/{i}").json()["status"] for i in ids}
        if states == {"failed"}:
            break
        time.sleep(0.2)
    time.sleep(0.5)  # any double move would have happened by now
    for run_id in ids:
        rec = httpx.get(f"{b.url}/api/v1/runs/{run_id}").json()
        assert [(t["from"], t["to"], t["actor"]) for t in rec["transitions"]] == [
            ("queued", "running", "api"), ("running", "lost", "watchdog"),
            ("lost", "failed", "watchdog")], rec["transitions"]
        assert rec["failure"]["reason"] == "lost"
    events = [e for e in picidae.events(store=pg_url, since=0, timeout=0.3)
              if e["type"] == "run.transition" and e["actor"] == "watchdog"]
    assert sorted((e["run_id"], e["to"]) for e in events) == sorted(
        (i, to) for i in ids for to in ("lost", "failed"))


def test_an_event_committed_late_is_not_skipped_by_a_reader(pg_url: str) -> None:
    from picidae.store.registry import open_store
    from picidae.store.sql.event_log import EventReader
    from picidae.store.sql.tables import events

    store = open_store(pg_url)
    reader = EventReader(store, store.last_event_id())
    row = {"workspace": "default", "run_id": None, "type": "test", "at": 0.0, "payload": "{}"}
    with store.engine.connect() as slow:
        tx = slow.begin()
        slow.execute(insert(events).values(**row))  # takes the lower id, commits last
        with store.engine.begin() as fast:
            fast.execute(insert(events).values(**row))
        assert reader.poll() == [] and reader.holding  # the later id waits for the earlier
        tx.commit()
    got = reader.poll()
    assert len(got) == 2 and got[0]["id"] < got[1]["id"]


def test_database_tokens_work_across_replicas_and_revoke(replicas, pg_url,
                                                         subprocess_env) -> None:
    from picidae.store.registry import open_store
    from picidae.store.sql.tokens import TokenTable

    def cli(*args: str) -> str:
        done = subprocess.run([sys.executable, "-m", "picidae", "token", *args, "--store",
                               pg_url], capture_output=True, text=True, env=subprocess_env,
                              timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout

    writer_token = cli("create", "--workspace", "lab-a", "--role", "write", "--name",
                       "ci").strip()
    table = TokenTable(open_store(pg_url))
    reader_token = table.create("lab-a", "read")[0]
    other_token = table.create("lab-b", "write")[0]
    listed = json.loads(cli("list", "--json"))
    assert [(t["workspace"], t["role"]) for t in listed] == [
        ("lab-a", "write"), ("lab-a", "read"), ("lab-b", "write")]
    assert writer_token not in json.dumps(listed)  # only hashes are kept
    a, b = replicas(2)
    assert httpx.get(f"{a.url}/api/v1/runs").status_code == 401
    w = {"Authorization": f"Bearer {writer_token}"}
    run = httpx.post(f"{a.url}/api/v1/runs", json={"name": "secret"}, headers=w).json()
    r = {"Authorization": f"Bearer {reader_token}"}
    assert httpx.get(f"{b.url}/api/v1/runs/{run['id']}", headers=r).status_code == 200
    assert httpx.post(f"{b.url}/api/v1/runs", json={"name": "x"}, headers=r).status_code == 403
    o = {"Authorization": f"Bearer {other_token}"}
    assert httpx.get(f"{b.url}/api/v1/runs/{run['id']}", headers=o).status_code == 403
    assert httpx.get(f"{b.url}/api/v1/runs", headers=o).json()["runs"] == []
    cli("revoke", listed[0]["id"])
    deadline = time.time() + 10  # servers cache answers for a couple of seconds
    while time.time() < deadline:
        if httpx.get(f"{a.url}/api/v1/runs", headers=w).status_code == 401:
            break
        time.sleep(0.2)
    assert httpx.get(f"{a.url}/api/v1/runs", headers=w).status_code == 401
    assert httpx.get(f"{b.url}/api/v1/runs", headers=w).status_code == 401
