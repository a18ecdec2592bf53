"""``/metrics`` of a real server: runs by status and queue depth read from the store, points
ingested through the API, alerts delivered."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

import picidae
from processes import ServerProcess


def _scrape(server: ServerProcess) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = httpx.get(f"{server.url}/metrics", timeout=10).text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def _runs(server: ServerProcess, status: str) -> float:
    return _scrape(server)[("picidae_runs", (("status", status),))]


def test_runs_gauge_follows_runs_as_they_start_and_end(server: ServerProcess) -> None:
    assert _runs(server, "running") == 0
    first = picidae.init("a", store=server.url)
    second = picidae.init("b", store=server.url)
    assert _runs(server, "running") == 2
    first.log(loss=1.0).log(loss=0.5).finish()
    assert (_runs(server, "running"), _runs(server, "completed")) == (1, 1)
    second.fail(message="boom")
    assert (_runs(server, "running"), _runs(server, "failed")) == (0, 1)
    metrics = _scrape(server)
    assert metrics[("picidae_points_ingested_total", ())] >= 2
    assert metrics[("picidae_alerts_delivered_total", ())] == 0


def test_queue_depth_by_queue(server: ServerProcess) -> None:
    picidae.submit(["true"], name="x", queue="gpu", store=server.url)
    picidae.submit(["true"], name="y", queue="gpu", store=server.url)
    picidae.submit(["true"], name="z", store=server.url)
    metrics = _scrape(server)
    assert metrics[("picidae_queue_depth", (("queue", "gpu"),))] == 2
    assert metrics[("picidae_queue_depth", (("queue", "default"),))] == 1
    assert metrics[("picidae_runs", (("status", "queued"),))] == 3
