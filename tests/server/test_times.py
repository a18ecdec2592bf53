"""Run-level times over HTTP: ISO 8601 strings in every answer, read back exactly by the SDK's
HTTP store; ISO strings accepted where a request takes a time."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

from fastapi.testclient import TestClient

import picidae
from picidae.core.times import from_iso, iso
from picidae.store.registry import open_store
from processes import ServerProcess

ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6,}Z")
TIMES = ("created_at", "started_at", "ended_at", "last_heartbeat_at")


def test_iso_round_trips_every_float_exactly() -> None:
    for value in (0.0, 1.0, 0.1, 1e-9, 1796409359.3205016, 1796409359.9999998, -5.25,
                  1733337319.123456789):
        assert from_iso(iso(value)) == value, value
    assert iso(1796409359.3205016) == "2026-12-04T18:35:59.3205016Z"
    assert iso(0.5) == "1970-01-01T00:00:00.500000Z"
    assert from_iso("2026-12-04T19:35:59.5+01:00") == from_iso("2026-12-04T18:35:59.5Z")


def test_every_run_answer_carries_iso_times(client: TestClient) -> None:
    made = client.post("/api/v1/runs", json={"name": "a", "status": "running"}).json()
    run_id = made["id"]
    moved = client.post(f"/api/v1/runs/{run_id}/transitions", json={"to": "completed"}).json()
    got = client.get(f"/api/v1/runs/{run_id}").json()
    listed = client.get("/api/v1/runs").json()["runs"][0]
    for body in (made, moved, got, listed):
        assert ISO.fullmatch(body["created_at"]) and ISO.fullmatch(body["started_at"])
    for body in (moved, got):
        assert ISO.fullmatch(body["ended_at"])
        assert [ISO.fullmatch(t["at"]) is not None for t in body["transitions"]] == [True, True]
    compared = client.get("/api/v1/ui/compare", params={"ids": run_id}).json()["runs"][0]
    assert compared["created_at"] == got["created_at"]


def test_requests_take_iso_times_too(client: TestClient) -> None:
    body = {"name": "old", "status": "running", "created_at": "2026-01-15T10:30:00Z",
            "transitions": [{"from": "queued", "to": "running",
                             "at": "2026-01-15T10:30:01.250000Z"}]}
    made = client.post("/api/v1/runs", json=body)
    assert made.status_code == 201, made.text
    assert made.json()["created_at"] == "2026-01-15T10:30:00.000000Z"
    assert made.json()["started_at"] == "2026-01-15T10:30:01.250000Z"
    bad = client.post("/api/v1/runs", json={**body, "created_at": "last tuesday"})
    assert bad.status_code == 422 and bad.json()["field"] == "created_at"


def test_the_http_store_reads_the_stored_floats_back_exactly(tmp_path: Path,
                                                            subprocess_env: dict[str, str]
                                                            ) -> None:
    local = str(tmp_path / "store")
    server = ServerProcess(local, subprocess_env).start()
    try:
        run = picidae.init("exact", store=server.url, capture_env=False)
        run.transition("evaluating").finish()
        over_http = open_store(server.url).get_run(run.id)
        on_disk = open_store(local).get_run(run.id)
        for name in TIMES:
            assert over_http[name] == on_disk[name], name
        assert [t["at"] for t in over_http["transitions"]] == [
            t["at"] for t in on_disk["transitions"]]
        rv = picidae.get_run(run.id, store=server.url)
        assert isinstance(rv.ended_at, datetime) and rv.ended_at.tzinfo is not None
        assert rv.to_dict()["ended_at"] == iso(on_disk["ended_at"])
    finally:
        server.stop()
