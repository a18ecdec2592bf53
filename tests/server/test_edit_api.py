"""``PATCH /api/v1/runs/{id}`` and ``POST /api/v1/runs/{id}/restore``: who may edit, and
what a bad edit gets back."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from workspaces import TOKENS

from picidae.errors import PicidaeError
from picidae.server.app import create_app
from picidae.store.http import HttpStore
from processes import ServerProcess

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


def _ended(api: TestClient) -> str:
    run = api.post("/api/v1/runs", json={"name": "r", "status": "running", "tags": ["t"]},
                   headers=A).json()
    api.post(f"/api/v1/runs/{run['id']}/transitions", json={"to": "completed"}, headers=A)
    return str(run["id"])


def test_patch_edits_and_records_the_tokens_actor(api: TestClient) -> None:
    run_id = _ended(api)
    r = api.patch(f"/api/v1/runs/{run_id}", headers=A,
                  json={"alias": "best", "add_tags": ["x"], "remove_tags": ["t"],
                        "notes": "why it won"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["alias"], body["tags"], body["notes"]) == ("best", ["x"], "why it won")
    assert body["edits"][0]["actor"].startswith("token:")
    assert body["edits"][0]["changes"]["notes"] == "why it won"


def test_read_tokens_and_other_workspaces_cannot_edit_or_restore(api: TestClient) -> None:
    run_id = _ended(api)
    for headers in (A_READ, B):
        r = api.patch(f"/api/v1/runs/{run_id}", headers=headers, json={"notes": "mine now"})
        assert r.status_code == 403, r.text
        r = api.post(f"/api/v1/runs/{run_id}/restore", headers=headers)
        assert r.status_code == 403, r.text
    assert api.get(f"/api/v1/runs/{run_id}", headers=A).json()["notes"] is None
    assert api.patch("/api/v1/runs/no-such-run", headers=A,
                     json={"notes": "x"}).status_code == 404


@pytest.mark.parametrize(("body", "field"), [
    ({}, "body"),
    ({"status": "running"}, "status"),
    ({"add_tags": "x"}, "add_tags"),
    ({"add_tags": ["ok", "bad\ttag"]}, "add_tags"),
    ({"add_tags": ["x"], "remove_tags": ["x"]}, "remove_tags"),
    ({"notes": 3}, "notes"),
    ({"alias": "a" * 500}, "alias"),
])
def test_a_bad_edit_is_a_422_naming_the_field(api: TestClient, body: dict[str, object],
                                              field: str) -> None:
    run_id = _ended(api)
    r = api.patch(f"/api/v1/runs/{run_id}", headers=A, json=body)
    assert r.status_code == 422, r.text
    assert field in (r.json().get("field") or "") or field in r.json()["message"]


def test_restore_route(api: TestClient) -> None:
    run_id = _ended(api)
    r = api.post(f"/api/v1/runs/{run_id}/restore", headers=A)
    assert r.status_code == 409 and "not archived" in r.json()["message"]
    api.post(f"/api/v1/runs/{run_id}/transitions", json={"to": "archived"}, headers=A)
    r = api.post(f"/api/v1/runs/{run_id}/restore", headers=A)
    assert r.status_code == 200 and r.json()["status"] == "completed"


def test_the_http_store_with_a_read_token_cannot_edit(tmp_path: Path,
                                                       subprocess_env: dict[str, str]) -> None:
    tokens = tmp_path / "tokens"
    tokens.write_text(f"{TOKENS['a']} A write\n{TOKENS['a_read']} A read\n")
    srv = ServerProcess(str(tmp_path / "srv"), subprocess_env, "--token-file", str(tokens))
    srv.start()
    try:
        writer, reader = HttpStore(srv.url, token=TOKENS["a"]), HttpStore(
            srv.url, token=TOKENS["a_read"])
        rec = writer.create_run({"name": "r", "status": "running"})
        with pytest.raises(PicidaeError) as info:
            reader.edit_run(rec["id"], {"notes": "nope"})
        assert "read" in str(info.value)
        assert writer.edit_run(rec["id"], {"notes": "yes"})["notes"] == "yes"
        writer.close()
        reader.close()
    finally:
        srv.stop()
