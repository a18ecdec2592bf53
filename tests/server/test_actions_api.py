"""``POST /api/v1/runs/{id}/cancel|retry|replay`` and ``GET /api/v1/whoami``: what each
does to the store, who may call it, and what bad input gets back."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from workspaces import TOKENS

from picidae.server.app import create_app

A = {"Authorization": f"Bearer {TOKENS['a']}"}
A_READ = {"Authorization": f"Bearer {TOKENS['a_read']}"}
B = {"Authorization": f"Bearer {TOKENS['b']}"}


@pytest.fixture
def api(tmp_path: Path, store_dir: Path) -> Iterator[TestClient]:
    tokens = tmp_path / "tokens"
    tokens.write_text(f"{TOKENS['a']} A write\n{TOKENS['a_read']} A read\n"
                      f"{TOKENS['b']} B write\n")
    with TestClient(create_app(str(store_dir), watchdog=False, token_file=tokens)) as c:
        yield c


def _run(api: TestClient, status: str = "completed") -> str:
    run = api.post("/api/v1/runs", headers=A, json={
        "name": "a/train", "status": "queued", "command": ["python", "train.py"],
        "config": {"lr": 0.1, "opt": {"name": "sgd"}}}).json()
    if status != "queued":
        api.post(f"/api/v1/runs/{run['id']}/transitions", json={"to": "running"}, headers=A)
    if status not in ("queued", "running"):
        api.post(f"/api/v1/runs/{run['id']}/transitions", json={"to": status}, headers=A)
    return str(run["id"])


def test_whoami_names_the_workspace_and_role(api: TestClient) -> None:
    assert api.get("/api/v1/whoami", headers=A).json()["role"] == "write"
    me = api.get("/api/v1/whoami", headers=A_READ).json()
    assert (me["workspace"], me["role"], me["tokens"]) == ("A", "read", True)
    assert api.get("/api/v1/whoami").status_code == 401


def test_cancel_a_queued_run_and_refuse_an_ended_one(api: TestClient) -> None:
    queued = _run(api, "queued")
    r = api.post(f"/api/v1/runs/{queued}/cancel", headers=A, json={"reason": "not needed"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "canceled"
    assert r.json()["transitions"][-1]["reason"] == "not needed"
    again = api.post(f"/api/v1/runs/{queued}/cancel", headers=A)
    assert again.status_code == 409 and "canceled" in again.json()["message"]


def test_retry_and_replay_queue_new_linked_runs(api: TestClient) -> None:
    done = _run(api, "failed")
    r = api.post(f"/api/v1/runs/{done}/retry", headers=A)
    assert r.status_code == 201, r.text
    new = r.json()
    assert (new["retry_of"], new["attempt"], new["status"], new["trigger"]) == (
        done, 2, "queued", "retry")
    r = api.post(f"/api/v1/runs/{done}/replay", headers=A,
                 json={"set": ["lr=0.01", "opt.name=adam"], "overrides": {"extra": True}})
    assert r.status_code == 201, r.text
    replayed = r.json()
    assert replayed["replay_of"] == done
    assert replayed["config"] == {"lr": 0.01, "opt": {"name": "adam"}, "extra": True}


def test_bad_actions_are_4xx_naming_the_field(api: TestClient) -> None:
    running = _run(api, "running")
    r = api.post(f"/api/v1/runs/{running}/retry", headers=A)
    assert r.status_code == 422 and r.json()["field"] == "id"
    r = api.post(f"/api/v1/runs/{running}/replay", headers=A, json={"set": ["no-equals"]})
    assert r.status_code == 422 and r.json()["field"] == "set", r.text
    r = api.post(f"/api/v1/runs/{running}/replay", headers=A, json={"sett": []})
    assert r.status_code == 422
    assert api.post("/api/v1/runs/nope/cancel", headers=A).status_code == 404


def test_read_tokens_and_other_workspaces_cannot_act(api: TestClient) -> None:
    done = _run(api, "completed")
    running = _run(api, "running")
    for headers in (A_READ, B):
        assert api.post(f"/api/v1/runs/{running}/cancel", headers=headers).status_code == 403
        assert api.post(f"/api/v1/runs/{done}/retry", headers=headers).status_code == 403
        assert api.post(f"/api/v1/runs/{done}/replay", headers=headers).status_code == 403
    assert api.get(f"/api/v1/runs/{running}", headers=A).json()["status"] == "running"
    listed = api.get("/api/v1/runs", headers=A).json()["runs"]
    assert len(listed) == 2
