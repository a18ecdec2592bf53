"""The HTTP API in-process: status codes, error bodies, paging, downsampling, tokens."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from picidae.server.app import create_app


def make_run(client: TestClient, **body: object) -> dict:
    r = client.post("/api/v1/runs", json={"name": "api/run", **body})
    assert r.status_code == 201, r.text
    return r.json()


def test_create_returns_201_and_a_queued_run(client: TestClient):
    run = make_run(client, config={"opt": {"lr": 0.1}}, tags=["a"])
    assert run["status"] == "queued" and run["transitions"] == []
    assert run["config"] == {"opt": {"lr": 0.1}}
    fetched = client.get(f"/api/v1/runs/{run['id']}").json()
    assert fetched["id"] == run["id"] and fetched["tags"] == ["a"]


def test_create_running_records_the_queued_to_running_move(client: TestClient):
    run = make_run(client, status="running")
    assert run["status"] == "running"
    assert [(t["from"], t["to"]) for t in run["transitions"]] == [("queued", "running")]


@pytest.mark.parametrize("body, field", [
    ({"name": "../escape"}, "name"),
    ({"name": "a//b"}, "name"),
    ({"name": 5}, "name"),
    ({"nmae": "typo"}, "nmae"),
    ({"seed": "forty-two"}, "seed"),
    ({"status": "completed"}, "status"),
    ({"tags": "not-a-list"}, "tags"),
    ({"trigger": "whim"}, "trigger"),
    ({"config": [1, 2]}, "config"),
])
def test_bad_run_bodies_get_422_naming_the_field(client: TestClient, body: dict, field: str):
    r = client.post("/api/v1/runs", json=body)
    assert r.status_code == 422, r.text
    data = r.json()
    assert data["code"] == "invalid_input"
    assert data["field"].startswith(field), data
    assert client.get("/api/v1/runs").json()["runs"] == []  # nothing was stored


def test_malformed_json_is_a_422_not_a_500(client: TestClient):
    r = client.post("/api/v1/runs", content=b"{not json", headers={"content-type":
                                                                   "application/json"})
    assert r.status_code == 422


def test_an_int_too_long_for_json_text_is_a_422_not_a_400(client: TestClient):
    # json.loads refuses an int past 4,300 digits with a ValueError that is no
    # JSONDecodeError: FastAPI answered 400 "error parsing the body" (failed before).
    body = b'{"name": "huge", "status": "running", "config": {"n": 1' + b"0" * 5000 + b"}}"
    r = client.post("/api/v1/runs", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "invalid_input" and r.json()["field"] == "body"
    assert "4300" in r.json()["message"]
    assert client.get("/api/v1/runs").json()["runs"] == []  # nothing was stored


def test_unknown_id_is_404_with_a_body(client: TestClient):
    for path in ("/api/v1/runs/nope", "/api/v1/runs/nope/logs", "/api/v1/runs/nope/metrics",
                 "/api/v1/runs/nope/metrics/loss"):
        r = client.get(path)
        assert r.status_code == 404, path
        assert r.json()["code"] == "run_not_found"
    r = client.post("/api/v1/runs/nope/transitions", json={"to": "running"})
    assert r.status_code == 404


def test_illegal_transition_is_409_naming_the_legal_targets(client: TestClient):
    run = make_run(client, status="running")
    done = client.post(f"/api/v1/runs/{run['id']}/transitions",
                       json={"to": "finished", "reason": "done"})
    assert done.status_code == 200 and done.json()["status"] == "completed"
    again = client.post(f"/api/v1/runs/{run['id']}/transitions", json={"to": "running"})
    assert again.status_code == 409
    body = again.json()
    assert body["code"] == "illegal_transition"
    assert body["current"] == "completed" and body["legal"] == ["archived"]
    assert "completed" in body["message"] and "archived" in body["message"]
    assert client.get(f"/api/v1/runs/{run['id']}").json()["status"] == "completed"


def test_unknown_state_word_is_422(client: TestClient):
    run = make_run(client)
    r = client.post(f"/api/v1/runs/{run['id']}/transitions", json={"to": "exploded"})
    assert r.status_code == 422 and r.json()["field"] == "to"


def test_metrics_round_trip_with_nan_and_stages(client: TestClient):
    run = make_run(client, status="running")
    points = [{"key": "loss", "value": 1.0 / (i + 1), "step": i, "stage": "train"}
              for i in range(10)]
    points.append({"key": "loss", "value": "NaN", "step": 10, "stage": "eval"})
    r = client.post(f"/api/v1/runs/{run['id']}/metrics", json={"points": points})
    assert r.status_code == 200 and r.json()["accepted"] == 11
    series = client.get(f"/api/v1/runs/{run['id']}/metrics/loss").json()
    assert series["total"] == 11 and not series["downsampled"]
    assert [p["step"] for p in series["points"]] == list(range(11))
    assert series["points"][-1]["value"] == "NaN" and series["points"][-1]["stage"] == "eval"
    keys = client.get(f"/api/v1/runs/{run['id']}/metrics").json()
    assert keys["keys"] == ["loss"]


def test_bad_metric_value_is_422_and_nothing_is_written(client: TestClient):
    run = make_run(client, status="running")
    r = client.post(f"/api/v1/runs/{run['id']}/metrics",
                    json={"points": [{"key": "ok", "value": 1, "step": 0},
                                     {"key": "bad", "value": "lots", "step": 1}]})
    assert r.status_code == 422 and "points[1].value" in r.json()["field"]
    assert client.get(f"/api/v1/runs/{run['id']}/metrics").json()["keys"] == []


def test_metric_keys_with_slashes_work_in_the_path(client: TestClient):
    run = make_run(client, status="running")
    client.post(f"/api/v1/runs/{run['id']}/metrics",
                json={"points": [{"key": "train/loss", "value": 0.5, "step": 0}]})
    series = client.get(f"/api/v1/runs/{run['id']}/metrics/train/loss").json()
    assert series["key"] == "train/loss" and series["total"] == 1


def test_downsampling_returns_no_more_than_asked_and_keeps_extremes(client: TestClient):
    run = make_run(client, status="running")
    values = [math.sin(i / 50.0) for i in range(20_000)]
    values[12_345] = 50.0   # a spike
    values[777] = -40.0     # a trough
    client.post(f"/api/v1/runs/{run['id']}/metrics", json={"points": [
        {"key": "sig", "value": v, "step": i} for i, v in enumerate(values)]})
    series = client.get(f"/api/v1/runs/{run['id']}/metrics/sig",
                        params={"max_points": 500}).json()
    assert series["total"] == 20_000 and series["downsampled"]
    got = series["points"]
    assert len(got) <= 500
    assert max(p["value"] for p in got) == 50.0
    assert min(p["value"] for p in got) == -40.0
    steps = [p["step"] for p in got]
    assert steps == sorted(steps)


def test_logs_append_and_read_from_an_offset(client: TestClient):
    run = make_run(client, status="running")
    client.post(f"/api/v1/runs/{run['id']}/logs",
                json={"lines": [{"text": f"line {i}"} for i in range(5)]})
    page = client.get(f"/api/v1/runs/{run['id']}/logs", params={"offset": 3}).json()
    assert [ln["text"] for ln in page["lines"]] == ["line 3", "line 4"]
    assert page["next_offset"] == 5


def test_listing_pages_with_a_cursor(client: TestClient):
    ids = [make_run(client, name=f"page/{i}")["id"] for i in range(7)]
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = client.get("/api/v1/runs", params=params).json()
        seen.extend(r["id"] for r in page["runs"])
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == list(reversed(ids))
    bad = client.get("/api/v1/runs", params={"cursor": "garbage!"})
    assert bad.status_code == 422 and bad.json()["field"] == "cursor"


def test_listing_filters_by_status_name_and_order(client: TestClient):
    a = make_run(client, name="cv/a", status="running")
    make_run(client, name="nlp/b")
    client.post(f"/api/v1/runs/{a['id']}/metrics",
                json={"points": [{"key": "acc", "value": 0.9, "step": 0}]})
    running = client.get("/api/v1/runs", params={"status": "running"}).json()["runs"]
    assert [r["name"] for r in running] == ["cv/a"]
    assert running[0]["metrics"] == {"acc": 0.9}
    cv = client.get("/api/v1/runs", params={"name": "cv/*"}).json()["runs"]
    assert [r["name"] for r in cv] == ["cv/a"]
    bad = client.get("/api/v1/runs", params={"order_by": "metrics.acc sideways"})
    assert bad.status_code == 422
    too_many = client.get("/api/v1/runs", params={"limit": 100000})
    assert too_many.status_code == 422 and too_many.json()["field"] == "limit"


def test_oversized_body_is_413_and_nothing_changes(store_dir: Path):
    with TestClient(create_app(str(store_dir), watchdog=False, max_body_mb=0.01)) as c:
        huge = {"name": "big", "config": {"blob": "x" * 50_000}}
        r = c.post("/api/v1/runs", json=huge)
        assert r.status_code == 413 and r.json()["code"] == "payload_too_large"
        assert c.get("/api/v1/runs").json()["runs"] == []


def test_heartbeat_returns_status(client: TestClient):
    run = make_run(client, status="running")
    r = client.post(f"/api/v1/runs/{run['id']}/heartbeat")
    assert r.json() == {"id": run["id"], "status": "running"}


def test_healthz_openapi_and_prometheus(client: TestClient):
    assert client.get("/healthz").json()["status"] == "ok"
    spec = client.get("/openapi.json").json()
    assert "/api/v1/runs" in spec["paths"] and "/api/v1/runs/{run_id}/transitions" in spec["paths"]
    client.get("/api/v1/runs")
    text = client.get("/metrics").text
    assert 'picidae_http_requests_total{method="GET",route="/api/v1/runs",status="200"}' in text
    assert "picidae_http_request_seconds_bucket" in text


def test_events_stream_from_the_start_and_resume_after_a_cursor(client: TestClient):
    run = make_run(client, status="running")
    client.post(f"/api/v1/runs/{run['id']}/transitions", json={"to": "completed"})
    text = client.get("/api/v1/events", params={"since": 0, "timeout": 0.3}).text
    events = [block for block in text.split("\n\n") if block.startswith("id:")]
    kinds = [b.split("\n")[1].removeprefix("event: ") for b in events]
    assert kinds == ["run.created", "run.transition", "run.transition"]
    first_id = events[0].split("\n")[0].removeprefix("id: ")
    resumed = client.get("/api/v1/events", params={"timeout": 0.3},
                         headers={"Last-Event-ID": first_id}).text
    assert resumed.count("event: run.transition") == 2 and "run.created" not in resumed


def test_tokens_401_403_and_workspaces(tmp_path: Path, store_dir: Path):
    tokens = tmp_path / "tokens"
    tokens.write_text("# team tokens\nalice-w lab-a write\nbob-r lab-a read\ncarol-w lab-b write\n")
    with TestClient(create_app(str(store_dir), watchdog=False, token_file=tokens)) as c:
        assert c.get("/healthz").status_code == 200
        assert c.get("/api/v1/runs").status_code == 401
        assert c.get("/api/v1/runs", headers={"Authorization": "Bearer wrong"}).status_code == 401
        a = {"Authorization": "Bearer alice-w"}
        run = c.post("/api/v1/runs", json={"name": "secret"}, headers=a).json()
        bob = {"Authorization": "Bearer bob-r"}
        assert c.get(f"/api/v1/runs/{run['id']}", headers=bob).status_code == 200
        assert c.post("/api/v1/runs", json={"name": "x"}, headers=bob).status_code == 403
        carol = {"Authorization": "Bearer carol-w"}
        assert c.get("/api/v1/runs", headers=carol).json()["runs"] == []
        # another workspace's run exists, and is not carol's: 403 (an unknown id stays 404)
        for method, path in (("GET", ""), ("GET", "/metrics"), ("GET", "/logs"),
                             ("POST", "/heartbeat")):
            r = c.request(method, f"/api/v1/runs/{run['id']}{path}", headers=carol)
            assert r.status_code == 403 and r.json()["code"] == "forbidden", path
        moved = c.post(f"/api/v1/runs/{run['id']}/transitions", json={"to": "running"},
                       headers=carol)
        assert moved.status_code == 403
        assert c.get(f"/api/v1/runs/{run['id']}", headers=a).json()["status"] == "queued"
        assert c.get("/api/v1/runs/no-such-run", headers=carol).status_code == 404


def test_database_tokens_401_403_and_revocation(store_dir: Path):
    from picidae.server.auth import Keyring
    from picidae.store.registry import open_store
    from picidae.store.sql.tokens import TokenTable

    table = TokenTable(open_store(str(store_dir)))
    with TestClient(create_app(str(store_dir), watchdog=False)) as c:
        assert c.get("/api/v1/runs").status_code == 200  # no tokens anywhere: open
        writer_token, writer_rec = table.create("lab-a", "write", "trainer")
        reader_token, _ = table.create("lab-a", "read")
        other_token, _ = table.create("lab-b", "write")
        Keyring.CACHE_S, cache = 0.0, Keyring.CACHE_S
        try:
            assert c.get("/api/v1/runs").status_code == 401  # tokens now exist: required
            w = {"Authorization": f"Bearer {writer_token}"}
            run = c.post("/api/v1/runs", json={"name": "db-token"}, headers=w).json()
            assert run["transitions"] == [] and run["status"] == "queued"
            r = {"Authorization": f"Bearer {reader_token}"}
            assert c.get(f"/api/v1/runs/{run['id']}", headers=r).status_code == 200
            assert c.post("/api/v1/runs", json={"name": "x"}, headers=r).status_code == 403
            o = {"Authorization": f"Bearer {other_token}"}
            assert c.get(f"/api/v1/runs/{run['id']}", headers=o).status_code == 403
            table.revoke(writer_rec["id"])
            assert c.get("/api/v1/runs", headers=w).status_code == 401
            assert c.get("/api/v1/runs", headers=r).status_code == 200
        finally:
            Keyring.CACHE_S = cache
    assert [t["revoked_at"] is not None for t in table.list()] == [True, False, False]
    assert all("digest" not in t for t in table.list())
