"""Metric points over HTTP: write points, list keys, read a series (downsampled for charts)."""

from __future__ import annotations

import math
import time
from array import array
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from picidae.core.validation import MAX_STEP, clean_key, clean_label, metric_value
from picidae.errors import InvalidInput
from picidae.server.deps import Access, reader, writer
from picidae.server.jsonresp import JSONResponse
from picidae.server.prom import POINTS
from picidae.server.schemas import ERRORS, AcceptedOut, KeysOut, MetricValue, SeriesOut
from picidae.store.base import Batch, SeriesChunk
from picidae.store.wire import pack

router = APIRouter(prefix="/api/v1", tags=["metrics"], responses=ERRORS)

_SPECIAL = {"nan": math.nan, "infinity": math.inf, "inf": math.inf, "-infinity": -math.inf,
            "-inf": -math.inf}


class PointIn(BaseModel):
    """One point. ``value`` is a number, or "NaN", "Infinity", "-Infinity"."""

    model_config = ConfigDict(extra="forbid")
    key: str = Field(..., min_length=1, max_length=256)
    value: float | int | str
    step: int = Field(..., ge=0, le=MAX_STEP)
    time: float | None = None
    stage: str | None = Field(None, max_length=128)


class PointsIn(BaseModel):
    """A batch of points."""

    model_config = ConfigDict(extra="forbid")
    points: list[PointIn] = Field(..., max_length=1_000_000)


class LatestIn(BaseModel):
    """Run ids whose latest metric values are wanted."""

    model_config = ConfigDict(extra="forbid")
    run_ids: list[str] = Field(..., max_length=10_000)


def _value(point: PointIn, i: int) -> float:
    if isinstance(point.value, str):
        special = _SPECIAL.get(point.value.strip().lower())
        if special is None:
            raise InvalidInput(f"points[{i}].value must be a number, got {point.value!r}",
                               field=f"points[{i}].value")
        return special
    return metric_value(point.key, point.value)


@router.post("/runs/{run_id}/metrics", response_model=AcceptedOut)
def write_points(run_id: str, body: PointsIn,
                 access: Annotated[Access, Depends(writer)]) -> JSONResponse:
    """Append points to a run's metrics."""
    now = time.time()
    chunks: dict[tuple[str, str | None], SeriesChunk] = {}
    for i, point in enumerate(body.points):
        clean_key(point.key, f"points[{i}].key")
        stage = clean_label(point.stage, f"points[{i}].stage")
        chunk = chunks.setdefault((point.key, stage), SeriesChunk(point.key, stage, array("q"),
                                                                  array("d"), array("d")))
        chunk.steps.append(point.step)
        chunk.values.append(_value(point, i))
        chunk.times.append(point.time if point.time is not None else now)
    batch = Batch(chunks=list(chunks.values()))
    access.store.write(run_id, batch)
    POINTS.add(batch.n_points())
    return JSONResponse({"id": run_id, "accepted": len(body.points)})


@router.get("/runs/{run_id}/metrics", response_model=KeysOut)
def metric_keys(run_id: str, access: Annotated[Access, Depends(reader)]) -> JSONResponse:
    """The run's metric keys and their latest values."""
    access.store.get_run(run_id)
    latest = access.store.latest_metrics([run_id])[run_id]
    return JSONResponse({"id": run_id, "keys": access.store.metric_keys(run_id),
                         "latest": latest})


@router.get("/runs/{run_id}/metrics/{key:path}", response_model=SeriesOut)
def metric_series(
    run_id: str, key: str, access: Annotated[Access, Depends(reader)],
    max_points: Annotated[int | None, Query(ge=1, le=1_000_000,
                          description="Downsample (keeping peaks) when longer.")] = None,
    format: Annotated[Literal["points", "packed"], Query(
        description="points: a list of {step, value, time, stage}; packed: base64 arrays "
                    "(exact, NaN-safe; what the HTTP client store reads).")] = "points",
) -> JSONResponse:
    """One series as columns (``steps``, ``values``, ``times``, ``stages``) and as ``points``.
    With ``max_points``, a longer series is cut to at most that many points by min/max
    buckets, so every peak and trough stays."""
    access.store.get_run(run_id)
    series = access.store.metrics(run_id, key, max_points)  # downsampled by the store
    total = series.total
    if format == "packed":  # the arrays the store read, never a Python object per point
        steps_a, values_a, times_a = series.columns()
        return JSONResponse({"id": run_id, "key": key, "total": total,
                             "steps": pack(steps_a), "values": pack(values_a),
                             "times": pack(times_a), "stages": series.stages})
    steps, values, times, stages = series.steps, series.values, series.times, series.stages
    points = [{"step": s, "value": v, "time": t, "stage": g}
              for s, v, t, g in zip(steps, values, times, stages, strict=True)]
    return JSONResponse({"id": run_id, "key": key, "total": total,
                         "downsampled": len(steps) < total, "points": points})


@router.post("/metrics/latest", response_model=dict[str, dict[str, MetricValue]])
def latest_metrics(body: LatestIn, access: Annotated[Access, Depends(reader)]) -> JSONResponse:
    """Latest metric values for many runs at once: ``{run_id: {key: value}}``. An id that is
    not a run of the token's workspace (unknown, or another workspace's) gets ``{}``."""
    latest = access.store.latest_metrics(access.own_ids(body.run_ids))
    return JSONResponse({run_id: latest.get(run_id, {}) for run_id in body.run_ids})
