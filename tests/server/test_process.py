"""Real ``picidae server`` processes on loopback, used through the SDK's HTTP store."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time

import httpx
import pytest

import picidae
from picidae.sdk.writer import writer


def test_sdk_over_http_records_what_it_records_embedded(server):
    with picidae.init("http/run", store=server.url, config={"lr": 0.1}, tags=["x"]) as run:
        run.set_primary_metric("acc")
        for i in range(500):
            run.log(loss=1 / (i + 1), acc=i / 500, stage="train")
        run.log(odd=float("inf"))
        run.summary({"best": 1.0})
        run.log_text("hello\nworld")
        run.child(kind="seed", seed=1).log(acc=0.25).finish()
        run.child(kind="seed", seed=2).log(acc=0.75).finish()
    rv = picidae.get_run(run.id, store=server.url)
    assert rv.status == "completed"
    assert rv.primary_metric == {"name": "acc", "mode": "max", "best": 0.998, "step": 499}
    loss = rv.metrics("loss")
    assert len(loss) == 500 and loss[0].stage == "train" and loss[-1].value == 1 / 500
    assert rv.metrics("odd")[0].value == math.inf
    assert [ln.text for ln in rv.logs()] == ["hello", "world"]
    assert rv.children_stats()["acc"] == {"n": 2, "mean": 0.5, "std": pytest.approx(0.3535533),
                                          "min": 0.25, "max": 0.75}
    names = [r.name for r in picidae.runs(store=server.url, order_by="name")]
    assert names == ["http/run", "http/run/seed-1", "http/run/seed-2"]
    with pytest.raises(picidae.RunNotFound):
        picidae.get_run("no-such-run", store=server.url)


def test_illegal_transition_over_http_is_the_same_error_class(server):
    run = picidae.init("x", store=server.url).finish()
    with pytest.raises(picidae.IllegalTransition) as info:
        run.store.transition(run.id, "running")
    assert info.value.current == "completed" and info.value.legal == ["archived"]


def test_unreachable_server_raises_store_unavailable():
    with pytest.raises(picidae.StoreUnavailable, match="cannot reach"):
        picidae.init("x", store="http://127.0.0.1:9")


def test_watchdog_turns_a_silent_run_lost_then_failed(server_factory):
    srv = server_factory(env={"PICIDAE_HEARTBEAT_TIMEOUT_S": "1", "PICIDAE_LOST_WINDOW_S": "2"})
    run = picidae.init("silent", store=srv.url)
    writer().unregister(run)  # as if the process died: no more heartbeats
    status = _wait_for(srv.url, run.id, "lost", within=10)
    assert status == "lost"
    status = _wait_for(srv.url, run.id, "failed", within=10)
    rv = picidae.get_run(run.id, store=srv.url)
    assert status == "failed" and rv.failure["reason"] == "lost"
    assert [t["to"] for t in rv.transitions] == ["running", "lost", "failed"]
    assert rv.transitions[1]["actor"] == "watchdog"


def test_heartbeat_brings_a_lost_run_back_to_running(server_factory):
    srv = server_factory(env={"PICIDAE_HEARTBEAT_TIMEOUT_S": "1", "PICIDAE_LOST_WINDOW_S": "600"})
    run = picidae.init("flaky", store=srv.url)
    writer().unregister(run)
    assert _wait_for(srv.url, run.id, "lost", within=10) == "lost"
    run.heartbeat()
    rv = picidae.get_run(run.id, store=srv.url)
    assert rv.status == "running"
    assert [(t["from"], t["to"]) for t in rv.transitions][-1] == ("lost", "running")
    run.finish()


def _wait_for(url: str, run_id: str, status: str, within: float) -> str:
    deadline = time.time() + within
    seen = ""
    while time.time() < deadline:
        seen = httpx.get(f"{url}/api/v1/runs/{run_id}").json()["status"]
        if seen == status:
            return seen
        time.sleep(0.2)
    return seen


def test_cli_reads_through_the_server(server, subprocess_env):
    run = picidae.init("via-cli", store=server.url).log(acc=0.5).log_text("hi").finish()
    out = subprocess.run([sys.executable, "-m", "picidae", "runs", "ls", "--json", "--store",
                          server.url], capture_output=True, text=True, env=subprocess_env,
                         check=True)
    listed = json.loads(out.stdout)
    assert [r["name"] for r in listed] == ["via-cli"] and listed[0]["metrics"] == {"acc": 0.5}
    logs = subprocess.run([sys.executable, "-m", "picidae", "logs", run.id, "--store",
                           server.url], capture_output=True, text=True, env=subprocess_env,
                          check=True)
    assert logs.stdout == "hi\n"


def test_server_refuses_a_public_host_without_tokens(tmp_path, subprocess_env):
    done = subprocess.run([sys.executable, "-m", "picidae", "server", "--host", "0.0.0.0",
                           "--store", str(tmp_path / "s"), "--port", "1"],
                          capture_output=True, text=True, env=subprocess_env, timeout=60)
    assert done.returncode == 1
    assert "--token-file" in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_sse_events_arrive_in_order_from_a_real_server(server):
    start = httpx.get(f"{server.url}/api/v1/events", params={"timeout": 0.2}).text
    assert "event:" not in start  # no cursor: the stream starts at the present
    run = picidae.init("evented", store=server.url).summary({"acc": 1}).finish()
    with httpx.stream("GET", f"{server.url}/api/v1/events",
                      params={"since": 0, "timeout": 0.5}, timeout=10) as response:
        body = "".join(response.iter_text())
    kinds = [line.removeprefix("event: ") for line in body.splitlines()
             if line.startswith("event: ") and line != "event: run.artifact"]  # capture's
    assert kinds == ["run.created", "run.transition", "run.summary", "run.transition"]
    ids = [int(line.removeprefix("id: ")) for line in body.splitlines() if line.startswith("id: ")]
    assert ids == sorted(ids)
    assert run.id in body


def test_a_retried_batch_is_applied_once(server):
    from array import array

    from picidae.store.base import Batch, SeriesChunk

    run = picidae.init("retry", store=server.url)
    chunk = SeriesChunk("loss", None, array("q", [0, 1]), array("d", [1.0, 0.5]),
                        array("d", [time.time()] * 2))
    batch = Batch(chunks=[chunk], batch_id="fixed-batch-id")
    run.store.write(run.id, batch)
    run.store.write(run.id, batch)  # the client never saw the first answer, say
    run.finish()
    assert [p.value for p in picidae.get_run(run.id, store=server.url).metrics("loss")] == [1.0,
                                                                                           0.5]


KILL_SCRIPT = """
import sys, time, picidae
run = picidae.init("through-a-crash", store=sys.argv[1])
print(run.id, flush=True)
for i in range(int(sys.argv[2])):
    run.log(x=i)
    time.sleep(0.002)
run.finish()
print("finished", flush=True)
"""


def test_server_sigkilled_and_restarted_mid_run_keeps_every_point_once(server, subprocess_env):
    env = {**subprocess_env, "PICIDAE_FLUSH_INTERVAL_S": "0.1"}
    n = 2000
    client = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, server.url, str(n)],
                              stdout=subprocess.PIPE, text=True, env=env)
    assert client.stdout is not None
    run_id = client.stdout.readline().strip()
    time.sleep(1.0)
    server.stop(kill=True)       # SIGKILL, mid-run
    time.sleep(1.0)              # the client keeps logging and buffering meanwhile
    server.start()               # same port, same store
    out, _ = client.communicate(timeout=120)
    assert "finished" in out
    values = picidae.get_run(run_id, store=server.url).metrics("x").values
    assert values == [float(i) for i in range(n)]


def test_a_taken_port_is_one_clear_line(server, subprocess_env, tmp_path):
    done = subprocess.run([sys.executable, "-m", "picidae", "ui", "--no-open", "--port",
                           str(server.port), "--store", str(tmp_path / "other")],
                          capture_output=True, text=True, env=subprocess_env, timeout=60)
    assert done.returncode == 1
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and f"127.0.0.1:{server.port}" in lines[0] and "--port" in lines[0]
