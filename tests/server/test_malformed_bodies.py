"""Malformed bodies found by fuzzing the routes: each is a 422 naming the field (it was a
500 with a TypeError, AttributeError or OverflowError), and nothing is stored."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

RECORD = {"id": "0190a000-0000-7000-8000-00000000d001", "name": "imported",
          "status": "completed", "created_at": 1.0}
FOLDER = {"name": "out", "kind": "folder", "digest": "0" * 64, "size": 1, "created_at": 1.0}

CASES: list[tuple[str, str, Any, str]] = [
    ("POST", "/api/v1/runs/{run}/artifacts", {**FOLDER, "files": ["x"]}, "files.0"),
    ("POST", "/api/v1/runs/{run}/artifacts", {**FOLDER, "files": 5}, "files"),
    ("POST", "/api/v1/runs/{run}/artifacts", {**FOLDER, "files": [{"path": "a"}]},
     "files.0.digest"),
    ("POST", "/api/v1/runs/{run}/artifacts", {**FOLDER, "links": [{"path": "a"}]},
     "links.0.target"),
    ("POST", "/api/v1/runs/{run}/artifacts", {**FOLDER, "name": "../up"}, "name"),
    ("POST", "/api/v1/runs/{run}/artifacts", {**FOLDER, "kind": "page"}, "kind"),
    ("POST", "/api/v1/runs/{run}/batch", {"logs": 5}, "logs"),
    ("POST", "/api/v1/runs/{run}/batch", {"chunks": True}, "chunks"),
    ("POST", "/api/v1/runs/import", {"record": {**RECORD, "transitions": 5}},
     "record.transitions"),  # the path in the body, as artifacts.0.files.0 below
    ("POST", "/api/v1/runs/import",
     {"record": RECORD, "artifacts": [{**FOLDER, "files": ["x"]}]}, "artifacts.0.files.0"),
    ("POST", "/api/v1/runs", {"name": "x", "attempt": 10**30}, "attempt"),
    ("POST", "/api/v1/runs", {"name": "x", "flow_version": 10**30}, "flow_version"),
]


@pytest.mark.parametrize("method, path, body, field", CASES,
                         ids=[f"{c[1].rsplit('/', 1)[-1]}-{c[3]}" for c in CASES])
def test_a_malformed_body_is_a_422_naming_the_field(client: TestClient, method: str,
                                                     path: str, body: Any, field: str) -> None:
    run = client.post("/api/v1/runs", json={"name": "target", "status": "running"}).json()
    before = client.get("/api/v1/runs", params={"limit": 1000}).json()["runs"]
    response = client.request(method, path.replace("{run}", run["id"]), json=body)
    assert response.status_code == 422, response.text
    assert response.json()["field"] == field, response.json()
    after = client.get("/api/v1/runs", params={"limit": 1000}).json()["runs"]
    assert [r["id"] for r in after] == [r["id"] for r in before]
    assert client.get(f"/api/v1/runs/{run['id']}/artifacts").json()["artifacts"] == []
