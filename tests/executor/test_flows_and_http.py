"""Flows (versioned templates, the webhook) and workers on a Picidae server."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

import picidae
from picidae.errors import FlowNotFound
from picidae.executor import flows
from picidae.executor.worker import Worker
from picidae.server.app import create_app

from .conftest import Cli, LiveServer


def test_flows_are_versioned_run_and_listed(cli: Cli, sqlite_url: str,
                                            tmp_path: Path) -> None:
    first = json.loads(cli("flow", "add", "train", "--set", "lr=0.1", "--json", "--store",
                           sqlite_url, "--", "sh", "-c", "echo one").stdout)
    assert (first["name"], first["version"]) == ("train", 1)
    spec = tmp_path / "flow.yaml"
    spec.write_text("command: sh -c 'echo two'\nconfig: {lr: 0.2, epochs: 3}\ntimeout: 1m\n")
    second = json.loads(cli("flow", "add", "train", "--file", str(spec), "--json",
                            "--store", sqlite_url).stdout)
    assert second["version"] == 2 and second["spec"]["timeout_s"] == 60
    run = json.loads(cli("flow", "run", "train", "--set", "epochs=5", "--json", "--store",
                         sqlite_url).stdout)
    assert (run["flow"], run["flow_version"], run["status"]) == ("train", 2, "queued")
    assert run["config"] == {"lr": 0.2, "epochs": 5} and run["name"] == "train"
    old = flows.run("train", version=1, store=sqlite_url)
    assert old.flow_version == 1 and old.command == ["sh", "-c", "echo one"]
    Worker(sqlite_url, once=True).run()
    listed = json.loads(cli("flow", "ls", "--json", "--store", sqlite_url).stdout)
    (item,) = listed
    assert item["name"] == "train" and item["version"] == 2 and item["versions"] == 2
    assert item["last_run"]["id"] == old.id and item["last_run"]["status"] == "completed"
    table = cli("flow", "ls", "--store", sqlite_url).stdout
    assert "train" in table and "completed" in table
    with pytest.raises(FlowNotFound):
        flows.run("nope", store=sqlite_url)
    err = cli("flow", "run", "nope", "--store", sqlite_url, check=False)
    assert err.returncode == 1 and "flow add" in err.stderr


def test_a_webhook_triggers_a_flow_run(sqlite_url: str) -> None:
    flows.add("nightly", {"command": ["true"], "config": {"lr": 0.1}, "seeds": "1-2"},
              store=sqlite_url)
    with TestClient(create_app(sqlite_url, watchdog=False)) as client:
        made = client.post("/api/v1/flows/nightly/runs", json={"config": {"lr": 0.3}})
        assert made.status_code == 201, made.text
        body = made.json()
        assert body["run"]["trigger"] == "webhook" and len(body["children"]) == 2
        assert body["run"]["flow"] == "nightly" and body["run"]["config"] == {"lr": 0.3}
        assert client.post("/api/v1/flows/missing/runs").status_code == 404
        bad = client.post("/api/v1/flows", json={"name": "x", "spec": {"cmd": "true"}})
        assert bad.status_code == 422 and bad.json()["code"] == "invalid_input"
        listed = client.get("/api/v1/flows").json()["flows"]
        assert [f["name"] for f in listed] == ["nightly"]
    Worker(sqlite_url, once=True, concurrency=2).run()
    parent = picidae.get_run(body["run"]["id"], store=sqlite_url)
    assert parent.status == "completed"


def test_workers_claim_through_a_server(live_server: LiveServer,
                                        start_worker: Callable[..., Any],
                                        script: Callable[[str], str]) -> None:
    prog = script("""
        import os, picidae
        run = picidae.init()
        run.log(acc=0.5 + run.config["seed"] / 100)
    """)
    parent = picidae.submit([sys.executable, prog], seeds="1-4", store=live_server.url)
    workers = [start_worker("--once", "--concurrency", "2", "--store", live_server.url)
               for _ in range(2)]
    for worker in workers:
        _, err = worker.communicate(timeout=60)
        assert worker.returncode == 0, err
    done = picidae.get_run(parent.id, store=live_server.url)
    assert done.status == "completed"
    assert done.summary["children_stats"]["acc"]["n"] == 4
    kids = done.children()
    assert all(len([t for t in k.transitions if t["to"] == "provisioning"]) == 1
               for k in kids)
    claim = httpx.post(f"{live_server.url}/api/v1/queue/claim", json={"worker": "w"})
    assert claim.status_code == 200 and claim.json() == {"runs": []}
    assert httpx.post(f"{live_server.url}/api/v1/queue/claim",
                      json={"worker": "w", "limit": 0}).status_code == 422
