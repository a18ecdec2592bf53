"""``Store.metrics(run_id, key, max_points=N)``: on every store (embedded, PostgreSQL, and a
server's HTTP store) a downsampled read keeps the first and last points, the global minimum
and maximum, every spike, each point's stage, and says how many points are stored."""

from __future__ import annotations

import math
from array import array
from pathlib import Path

import pytest

from picidae.core.downsample import minmax_indices
from picidae.core.record import new_record
from picidae.store.base import Batch, MetricSeries, SeriesChunk
from picidae.store.http import HttpStore
from picidae.store.registry import open_store
from processes import ServerProcess

N = 20_000
SPIKES = {4321: 9.0, 15000: -7.0}


def _chunk(stage: str, steps: range, values: list[float] | None = None) -> SeriesChunk:
    vals = values if values is not None else [
        SPIKES.get(s, math.sin(s / 700)) for s in steps]
    return SeriesChunk("loss", stage, array("q", steps), array("d", vals),
                       array("d", [1e9 + s for s in steps]))


def _fill(store: object, shuffled: bool = False) -> str:
    run = store.create_run(new_record("ds/run"))  # type: ignore[attr-defined]
    parts = [("warmup", range(0, 2000)), ("train", range(2000, 18000)),
             ("eval", range(18000, N))]
    if shuffled:  # chunks written out of step order: the store sorts before it samples
        parts = parts[::-1]
    for stage, steps in parts:
        store.write(run["id"], Batch(chunks=[_chunk(stage, steps)]))  # type: ignore[attr-defined]
    return str(run["id"])


def _check(full: MetricSeries, small: MetricSeries, max_points: int) -> None:
    assert len(full) == full.total == N
    assert small.total == N and 4 <= len(small) <= max_points
    assert small.steps == sorted(small.steps)
    assert (small.steps[0], small.steps[-1]) == (0, N - 1)  # the line spans the series
    assert max(small.values) == 9.0 and min(small.values) == -7.0  # the spikes survive
    assert {4321, 15000} <= set(small.steps)
    for step, value, at, stage in small:  # each kept point is a stored point, stage and all
        assert full[step] == (step, value, at, stage)
    assert {s for s in small.stages} == {"warmup", "train", "eval"}
    # the shape: each bucket's lowest and highest point, as core.downsample picks them
    assert small.steps == [full.steps[i] for i in minmax_indices(full.values, max_points)]

@pytest.mark.parametrize("shuffled", [False, True], ids=["in-order", "out-of-order"])
def test_downsampled_reads_keep_the_ends_extremes_and_stages(store_url: str,
                                                             shuffled: bool) -> None:
    store = open_store(store_url)
    run_id = _fill(store, shuffled)
    full = store.metrics(run_id, "loss")
    small = store.metrics(run_id, "loss", max_points=500)
    _check(full, small, 500)
    assert store.metrics(run_id, "loss", max_points=N) == full  # not longer: every point
    assert len(store.metrics(run_id, "nope", max_points=10)) == 0


def test_the_http_store_downsamples_on_the_server(tmp_path: Path,
                                                  subprocess_env: dict[str, str]) -> None:
    server = ServerProcess(str(tmp_path / "store"), subprocess_env).start()
    try:
        store = HttpStore(server.url)
        run_id = _fill(store)
        small = store.metrics(run_id, "loss", max_points=500)
        _check(store.metrics(run_id, "loss"), small, 500)
        local = open_store(str(tmp_path / "store")).metrics(run_id, "loss", max_points=500)
        assert small == local and small.total == local.total
        store.close()
    finally:
        server.stop()


def test_numpy_and_pure_python_pick_the_same_points(monkeypatch: pytest.MonkeyPatch) -> None:
    from picidae.core import downsample

    values = [math.sin(i / 50) + (5.0 if i % 997 == 0 else 0.0) for i in range(30_000)]
    values[123] = math.inf
    values[4567] = -math.inf
    with_numpy = downsample.minmax_indices(array("d", values), 300)
    monkeypatch.setattr(downsample, "_numpy", lambda: None)
    assert downsample.minmax_indices(values, 300) == with_numpy
    values[999] = math.nan  # NaN: the pure loop, which skips it
    assert 999 not in downsample.minmax_indices(values, 300)
