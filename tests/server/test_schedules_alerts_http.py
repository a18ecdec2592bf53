"""``picidae schedule`` and ``picidae alerts`` over ``--store http://``: real CLI processes
against a real server with two workspaces (A and B). What a token adds lands in its
workspace, the server fires and delivers it, and the other workspace sees none of it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from workspaces import TOKENS

from processes import Receiver, ServerProcess

pytestmark = pytest.mark.slow


class Cli:
    """``picidae ARGS... --store URL`` with one workspace's token."""

    def __init__(self, server: ServerProcess, env: dict[str, str], cwd: Path) -> None:
        self.server, self.env, self.cwd = server, env, cwd

    def __call__(self, token: str, *args: str, ok: bool = True
                 ) -> subprocess.CompletedProcess[str]:
        # options right after the subcommand: a command to schedule follows '--'
        command = [*args[:2], "--store", self.server.url, *args[2:]]
        proc = subprocess.run([sys.executable, "-m", "picidae", *command],
                              env={**self.env, "PICIDAE_TOKEN": TOKENS[token]},
                              capture_output=True, text=True, timeout=60, cwd=self.cwd)
        if ok:
            assert proc.returncode == 0, f"picidae {' '.join(args)}:\n{proc.stderr}"
        return proc

    def json(self, token: str, *args: str) -> Any:
        return json.loads(self(token, *args[:2], "--json", *args[2:]).stdout)


@pytest.fixture
def cli(two_workspaces: ServerProcess, subprocess_env: dict[str, str], tmp_path: Path) -> Cli:
    return Cli(two_workspaces, subprocess_env, tmp_path)


def _one_line_refusal(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    return lines[0]


def _wait(what: Any, timeout: float = 20.0) -> Any:
    deadline = time.time() + timeout
    while time.time() < deadline:
        found = what()
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError("timed out")


def test_schedules_round_trip_over_http_in_the_tokens_workspace(cli: Cli) -> None:
    added = cli.json("a", "schedule", "add", "nightly", "--cron", "0 3 * * *", "--tz",
                     "Europe/Berlin", "--set", "lr=0.1", "--", "echo", "hi")
    assert added["name"] == "nightly" and added["tz"] == "Europe/Berlin"
    assert added["spec"]["command"] == ["echo", "hi"] and added["spec"]["config"] == {"lr": 0.1}
    assert [s["name"] for s in cli.json("a_read", "schedule", "ls")] == ["nightly"]
    assert "nightly" in cli("a", "schedule", "ls").stdout
    assert cli.json("a", "schedule", "pause", "nightly")["paused"] is True
    [listed] = cli.json("a", "schedule", "ls")
    assert listed["paused"] is True and listed["next_slot"] is None
    assert cli.json("a", "schedule", "resume", "nightly")["paused"] is False
    # the same refusals as on the embedded store, one line each
    taken = cli("a", "schedule", "add", "nightly", "--cron", "0 3 * * *", "--", "true",
                ok=False)
    assert "exists" in _one_line_refusal(taken)
    bad = cli("a", "schedule", "add", "x", "--cron", "61 * * * *", "--", "true", ok=False)
    assert "cron" in _one_line_refusal(bad)
    # another workspace sees nothing of A's, and cannot touch it
    assert cli.json("b", "schedule", "ls") == []
    for verb in ("rm", "pause", "resume"):
        assert "no schedule named 'nightly'" in _one_line_refusal(
            cli("b", "schedule", verb, "nightly", ok=False))
    # a read token may list, never change
    refused = cli("a_read", "schedule", "add", "r", "--cron", "0 3 * * *", "--", "true",
                  ok=False)
    assert "read" in _one_line_refusal(refused).lower()
    _one_line_refusal(cli("a_read", "schedule", "rm", "nightly", ok=False))
    assert cli.json("a", "schedule", "rm", "nightly")["name"] == "nightly"
    assert cli.json("a", "schedule", "ls") == []
    if shutil.which("sbatch"):  # the executor's options are kept through the API
        engine = cli.json("a", "schedule", "add", "on-slurm", "--cron", "0 3 * * *",
                          "--executor", "slurm", "--account", "lab", "--", "true")["spec"]
        assert engine["queue"] == "slurm"
        assert engine["engine"] == {"name": "slurm", "partition": None, "account": "lab",
                                    "args": []}
        cli.json("a", "schedule", "rm", "on-slurm")
    assert "no schedule named" in _one_line_refusal(cli("a", "schedule", "rm", "nightly",
                                                        ok=False))


def test_a_per_second_schedule_added_over_http_fires_once_per_slot_in_its_workspace(
        cli: Cli, two_workspaces: ServerProcess) -> None:
    cli("a", "schedule", "add", "tick", "--cron", "* * * * * *", "--", "true")
    a = httpx.Client(base_url=two_workspaces.url,
                     headers={"Authorization": f"Bearer {TOKENS['a']}"}, timeout=30)

    def fired() -> list[dict[str, Any]]:
        runs = a.get("/api/v1/runs", params={"limit": 1000}).json()["runs"]
        return [r for r in runs if r["trigger"] == "schedule"]

    _wait(lambda: len(fired()) >= 3)
    cli("a", "schedule", "pause", "tick")
    time.sleep(1.5)  # a slot being fired as it paused lands now
    runs = fired()
    slots = [r["execution"]["schedule"]["slot"] for r in runs]
    assert len(slots) == len(set(slots)) >= 3  # exactly once per slot
    assert all(r["name"] == "tick" and r["status"] == "queued" for r in runs)
    fires = a.get("/api/v1/schedules/tick/fires").json()["fires"]
    assert sorted(f["slot"] for f in fires) == sorted(slots)
    assert {f["run_id"] for f in fires} == {r["id"] for r in runs}
    [listed] = cli.json("a", "schedule", "ls")
    assert listed["last_run"]["id"] in {r["id"] for r in runs}
    # the runs are A's: B has none of them
    b_runs = httpx.get(f"{two_workspaces.url}/api/v1/runs", headers={
        "Authorization": f"Bearer {TOKENS['b']}"}).json()["runs"]
    assert b_runs == []
    a.close()


def test_alerts_round_trip_over_http_and_the_server_delivers_them(
        cli: Cli, two_workspaces: ServerProcess) -> None:
    receiver = Receiver().start()
    try:
        added = cli.json("a", "alerts", "add", "broken", "--on", "failed", "--webhook",
                         f"{receiver.url}/broken")
        assert added["on"] == ["failed"] and added["kind"] == "webhook"
        assert "broken" in cli("a_read", "alerts", "ls").stdout
        assert "test delivered" in cli("a", "alerts", "test", "broken").stdout
        [test_post] = receiver.at("/broken")  # posted by the server
        assert test_post["alert"] == "broken" and test_post["title"] == "test of alert broken"
        # a run of A that fails: the server delivers the rule added over http
        a = httpx.Client(base_url=two_workspaces.url,
                         headers={"Authorization": f"Bearer {TOKENS['a']}"}, timeout=30)
        run = a.post("/api/v1/runs", json={"name": "a/fails", "status": "running"}).json()
        a.post(f"/api/v1/runs/{run['id']}/transitions", json={"to": "failed"})
        _wait(lambda: len(receiver.at("/broken")) >= 2)
        body = receiver.at("/broken")[1]
        assert body["run"]["id"] == run["id"] and body["run"]["status"] == "failed"
        [listed] = _wait(lambda: [r for r in cli.json("a", "alerts", "ls")
                                  if r["delivered"] == 1])
        assert listed["name"] == "broken"
        # B: sees none, cannot test or remove A's, its failures do not reach A's rule
        assert cli.json("b", "alerts", "ls") == []
        for verb in ("rm", "test"):
            assert "no alert named 'broken'" in _one_line_refusal(
                cli("b", "alerts", verb, "broken", ok=False))
        b = httpx.Client(base_url=two_workspaces.url,
                         headers={"Authorization": f"Bearer {TOKENS['b']}"}, timeout=30)
        other = b.post("/api/v1/runs", json={"name": "b/fails", "status": "running"}).json()
        b.post(f"/api/v1/runs/{other['id']}/transitions", json={"to": "failed"})
        b.close()
        # read tokens list but never change or post
        assert "read" in _one_line_refusal(cli(
            "a_read", "alerts", "add", "x", "--on", "failed", "--webhook", receiver.url,
            ok=False)).lower()
        _one_line_refusal(cli("a_read", "alerts", "test", "broken", ok=False))
        _one_line_refusal(cli("a_read", "alerts", "rm", "broken", ok=False))
        bad = cli("a", "alerts", "add", "y", "--on", "exploded", "--webhook", receiver.url,
                  ok=False)
        assert "exploded" in _one_line_refusal(bad)
        assert cli.json("a", "alerts", "rm", "broken")["name"] == "broken"
        assert cli.json("a", "alerts", "ls") == []
        a.close()
        time.sleep(1.0)  # B's failure had ticks to (wrongly) reach A's rule
        assert len(receiver.at("/broken")) == 2
    finally:
        receiver.stop()


def test_bad_bodies_are_refused_naming_the_field(two_workspaces: ServerProcess) -> None:
    with httpx.Client(base_url=two_workspaces.url, timeout=30,
                      headers={"Authorization": f"Bearer {TOKENS['a']}"}) as a:
        cases = [("/api/v1/schedules", {"name": "x", "cron": "0 3 * * *"}, "spec"),
                 ("/api/v1/schedules", {"name": "x", "cron": "nope", "flow": "f"}, "cron"),
                 ("/api/v1/schedules", {"name": "x", "cron": "0 3 * * *", "tz": "Mars/Base",
                                        "flow": "f"}, "tz"),
                 ("/api/v1/schedules", {"name": "x", "cron": "0 3 * * *", "spec": {}},
                  "command"),
                 ("/api/v1/schedules", {"name": "x", "cron": "0 3 * * *", "spec": {
                     "command": ["true"], "engine": {"name": "k8s"}}}, "spec.engine"),
                 ("/api/v1/alerts", {"name": "x", "on": ["failed"], "url": "ftp://h"}, "url"),
                 ("/api/v1/alerts", {"name": "x", "on": ["failed"], "url": "http://h",
                                     "kind": "email"}, "kind")]
        for path, body, field in cases:
            response = a.post(path, json=body)
            assert response.status_code == 422, (body, response.text)
            assert field in (response.json()["field"] or ""), (body, response.json())
        missing = a.post("/api/v1/schedules", json={"name": "x", "cron": "0 3 * * *",
                                                    "flow": "nope"})
        assert missing.status_code == 404
