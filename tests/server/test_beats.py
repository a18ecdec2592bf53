"""The heartbeat path (``server/beats.py``): the ASGI shortcut answers as the FastAPI route
does, and the writer coalesces waiting heartbeats into one transaction."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from picidae.core.record import new_record
from picidae.server.app import create_app
from picidae.server.beats import Beats
from picidae.store.registry import open_store


def _run(client: TestClient, status: str = "running", **headers: str) -> str:
    r = client.post("/api/v1/runs", json={"name": "hb", "status": status}, headers=headers)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def test_heartbeat_bodies_answer_as_the_route_does(client: TestClient) -> None:
    run_id = _run(client)
    url = f"/api/v1/runs/{run_id}/heartbeat"
    assert client.post(url).json() == {"id": run_id, "status": "running"}
    assert client.post(url, json={}).json()["status"] == "running"
    assert client.post(url, json={"at": None}).status_code == 200
    assert client.post(url, json={"at": "2030-01-02T03:04:05Z"}).status_code == 200
    assert client.get(f"/api/v1/runs/{run_id}").json()["last_heartbeat_at"].startswith(
        "2030-01-02T03:04:05")
    assert client.post(url, json={"at": 1_900_000_000}).status_code == 200
    for body, field in (({"bogus": 1}, "bogus"), ({"at": "yesterday"}, "at"),
                        ({"at": [1]}, "at")):
        r = client.post(url, json=body)
        assert r.status_code == 422 and r.json()["field"].startswith(field), (body, r.text)
    for raw, kind in ((b"{}", "text/plain"), (b"{", "application/json"), (b"[]", None),
                      (b" ", None)):
        headers = {"content-type": kind} if kind else {}
        r = client.post(url, content=raw, headers=headers)
        assert r.status_code == 422 and r.json()["code"] == "invalid_input", (raw, r.text)


def test_unknown_ended_and_lost_runs(client: TestClient) -> None:
    r = client.post("/api/v1/runs/no-such-run/heartbeat")
    assert r.status_code == 404 and r.json()["code"] == "run_not_found"
    run_id = _run(client)
    assert client.post(f"/api/v1/runs/{run_id}/transitions",
                       json={"to": "completed"}).status_code == 200
    r = client.post(f"/api/v1/runs/{run_id}/heartbeat")
    assert r.status_code == 409 and r.json()["code"] == "run_finished"
    assert client.get("/api/v1/runs/x/heartbeat").status_code == 405
    lost = _run(client)
    store = client.app.state.store  # type: ignore[attr-defined]
    store.transition(lost, "lost", actor="watchdog")
    r = client.post(f"/api/v1/runs/{lost}/heartbeat")
    assert r.json() == {"id": lost, "status": "running"}
    moves = [(t["from"], t["to"]) for t in store.get_run(lost)["transitions"]]
    assert moves[-1] == ("lost", "running")


def test_heartbeats_are_counted_under_their_route(client: TestClient) -> None:
    run_id = _run(client)
    for _ in range(3):
        client.post(f"/api/v1/runs/{run_id}/heartbeat")
    text = client.get("/metrics").text
    assert ('picidae_http_requests_total{method="POST",route="/api/v1/runs/{run_id}/heartbeat"'
            ',status="200"} 3.0') in text


def test_tokens_and_workspaces(store_dir: Path, tmp_path: Path) -> None:
    tokens = tmp_path / "tokens"
    tokens.write_text("wa A write\nra A read\nwb B write\n")
    with TestClient(create_app(str(store_dir), token_file=tokens, watchdog=False)) as c:
        a, b = {"Authorization": "Bearer wa"}, {"Authorization": "Bearer wb"}
        run_id = _run(c, **a)
        url = f"/api/v1/runs/{run_id}/heartbeat"
        assert c.post(url).status_code == 401
        assert c.post(url, headers={"Authorization": "Bearer nope"}).status_code == 401
        assert c.post(url, headers={"Authorization": "Bearer ra"}).status_code == 403
        r = c.post(url, headers=b)
        assert r.status_code == 403 and r.json()["code"] == "forbidden"
        assert c.post("/api/v1/runs/no-such-run/heartbeat", headers=b).status_code == 404
        assert c.post(url, headers=a).json()["status"] == "running"


def test_the_writer_coalesces_waiting_heartbeats(store_dir: Path) -> None:
    store = open_store(store_dir)
    beats = Beats(store)
    run_ids = [str(store.create_run(new_record(f"hb/{i}"))["id"]) for i in range(8)]
    many = beats._many
    assert many is not None
    sizes: list[int] = []
    gate = threading.Event()

    def recording(items: list[tuple[str, str, float]]) -> list[Any]:
        sizes.append(len(items))
        gate.wait(10)  # the first transaction is slow: the others queue behind it
        return many(items)

    beats._many = recording

    async def main() -> list[str | BaseException]:
        first = asyncio.ensure_future(beats.beat(store, "default", run_ids[0], None))
        while not sizes:
            await asyncio.sleep(0.01)
        rest = [asyncio.ensure_future(beats.beat(store, "default", r, None))
                for r in [*run_ids[1:], "no-such-run"]]
        await asyncio.sleep(0.05)
        gate.set()
        return await asyncio.gather(first, *rest, return_exceptions=True)

    answers = asyncio.run(main())
    assert sizes == [1, 8]
    assert answers[:8] == ["running"] * 8
    assert type(answers[8]).__name__ == "RunNotFound"


@pytest.mark.parametrize("n", [1, 50])
def test_concurrent_requests_all_answered(client: TestClient, n: int) -> None:
    run_ids = [_run(client) for _ in range(n)]
    with_threads = [threading.Thread(target=lambda r=r: client.post(
        f"/api/v1/runs/{r}/heartbeat")) for r in run_ids]
    for t in with_threads:
        t.start()
    for t in with_threads:
        t.join()
    store = client.app.state.store  # type: ignore[attr-defined]
    assert all(store.get_run(r)["last_heartbeat_at"] for r in run_ids)
