"""A 1,000,000-point series: the chart endpoints return at most what was asked, keeping the
extremes, and the run page draws it."""

from __future__ import annotations

import math
import time
from array import array
from typing import Any

import httpx
import pytest

from picidae.core.record import new_record
from picidae.store.base import Batch, SeriesChunk
from picidae.store.registry import open_store

N = 1_000_000
PEAK_STEP, PEAK = 777_777, 50.0
DIP_STEP, DIP = 123_456, -50.0


@pytest.fixture
def million(demo_server: Any) -> dict[str, Any]:
    """A run in the demo store with one 1,000,000-point series and one spike each way."""
    store = open_store(demo_server.store)
    run = store.create_run(new_record("bench/million-points", status="running"))
    t0 = time.time() - N * 0.01
    for start in range(0, N, 200_000):
        steps = range(start, start + 200_000)
        values = array("d", (math.sin(s / 5000) + 0.05 * math.sin(s * 7.3) for s in steps))
        if start <= PEAK_STEP < start + 200_000:
            values[PEAK_STEP - start] = PEAK
        if start <= DIP_STEP < start + 200_000:
            values[DIP_STEP - start] = DIP
        store.write(run["id"], Batch(chunks=[SeriesChunk(
            "loss", "train", array("q", steps), values,
            array("d", (t0 + s * 0.01 for s in steps)))]))
    store.transition(run["id"], "completed")
    return run


def test_a_million_point_series_is_downsampled_keeping_its_extremes(million, demo_server):
    url = f"{demo_server.url}/api/v1/runs/{million['id']}/metrics/loss"
    body = httpx.get(url, params={"max_points": 1000}, timeout=60).json()
    assert body["total"] == N and body["downsampled"] is True
    points = {p["step"]: p["value"] for p in body["points"]}
    assert len(body["points"]) <= 1000
    assert points[PEAK_STEP] == PEAK and points[DIP_STEP] == DIP
    # the chart's own route (columns, zoomable windows) keeps them too
    window = demo_server.api(f"/api/v1/ui/series/{million['id']}/loss", max_points=1000)
    assert len(window["values"]) <= 1000 and window["total"] == N
    assert max(window["values"]) == PEAK and min(window["values"]) == DIP
    zoomed = demo_server.api(f"/api/v1/ui/series/{million['id']}/loss", max_points=1000,
                             lo=PEAK_STEP - 400, hi=PEAK_STEP + 400)
    assert zoomed["steps"] == list(range(PEAK_STEP - 401, PEAK_STEP + 402))  # full detail
    assert zoomed["stages"] == [[0, "train"]]


def test_the_run_page_draws_a_million_point_series(million, demo_server, page):
    page.goto(f"{demo_server.url}/runs/{million['id']}")
    page.wait_for_selector('.chart-card[data-key="loss"][data-drawn="1"]')
    note = page.locator('.chart-card[data-key="loss"] .chart-note').inner_text()
    assert note.endswith("of 1,000,000 points")
    assert page.console.take() == []
