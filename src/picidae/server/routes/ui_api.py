"""Read-only routes the web UI builds on: children aggregates, row extras, status facets,
comparison, history and chart windows.

``GET /api/v1/runs/{id}/children_stats`` is public (the SDK's ``RunView.children_stats``
over HTTP); the ``/api/v1/ui/...`` routes are shaped for the pages and may change with them.
"""

from __future__ import annotations

import bisect
import re
import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query

from picidae.analysis.history import timeline_buckets
from picidae.core import ranking, stats
from picidae.core.downsample import minmax_indices
from picidae.core.states import State
from picidae.core.times import iso, record_to_json
from picidae.errors import InvalidInput, PicidaeError
from picidae.server.deps import Access, reader
from picidae.server.jsonresp import JSONResponse
from picidae.server.schemas import ERRORS
from picidae.store.base import RunQuery, Store
from picidae.store.capabilities import AggregateStore

router = APIRouter(prefix="/api/v1", tags=["ui"], responses=ERRORS)

MAX_IDS = 200


def _ids(value: str, *, at_least: int = 1) -> list[str]:
    ids = list(dict.fromkeys(part.strip() for part in value.split(",") if part.strip()))
    if len(ids) < at_least:
        raise InvalidInput(f"ids needs at least {at_least} run id(s), comma-separated",
                           field="ids")
    if len(ids) > MAX_IDS:
        raise InvalidInput(f"ids takes at most {MAX_IDS} run ids, got {len(ids)}", field="ids")
    return ids


@router.get("/runs/{run_id}/children_stats")
def children_stats(
    run_id: str, access: Annotated[Access, Depends(reader)],
    keys: Annotated[list[str] | None, Query(description="Only these keys (repeat).")] = None,
) -> JSONResponse:
    """Mean ± std (with n, min, max) of the children's final values per key, as
    ``RunView.children_stats`` computes it, with the number of children per status and per
    kind (``""`` for none), and ``best``: the child best at the run's primary metric."""
    store = access.store
    parent = store.get_run(run_id)
    kids = store.list_runs(RunQuery(parent=run_id, order_by=[("created_at", False)]))
    latest = store.latest_metrics([k["id"] for k in kids]) if kids else {}
    statuses: dict[str, int] = {}
    kinds: dict[str, int] = {}
    for kid in kids:
        statuses[kid["status"]] = statuses.get(kid["status"], 0) + 1
        kinds[kid.get("kind") or ""] = kinds.get(kid.get("kind") or "", 0) + 1
    return JSONResponse({"id": run_id, "children": len(kids), "statuses": statuses,
                         "kinds": kinds, "stats": stats.children_stats(kids, latest, keys),
                         "best": _best_child(parent, kids, latest)})


def _best_child(parent: dict[str, Any], kids: list[dict[str, Any]],
                latest: dict[str, dict[str, float]]) -> dict[str, Any] | None:
    """The child best at the parent's primary metric (by its mode; a child's own best when
    that is its primary metric): ``{id, name, value}``."""
    key = ranking.primary(parent)
    if key is None:
        return None
    name, mode = key
    found = None
    for kid in kids:
        value = ranking.child_value(kid, name, latest.get(kid["id"], {}))
        if value is not None and (found is None or (value > found["value"] if mode == "max"
                                                    else value < found["value"])):
            found = {"id": kid["id"], "name": kid["name"], "value": value}
    return found


_PLAIN_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
_GROUP = 100  # ids per "parent_id in (...)" count: well inside the where language's limits


def _count_children(store: Store, ids: list[str], include_archived: bool) -> dict[str, int]:
    """Children per id with few queries: one count for a whole group of ids, split in halves
    only where some have children — a page of 50 leaf runs costs one count, not 50 (a count
    by parent may scan the runs on SQLite, ~20 ms each at 100,000 runs)."""
    counts: dict[str, int] = {}

    def one(run_id: str) -> int:
        return int(store.count_runs(RunQuery(parent=run_id, include_archived=include_archived)))

    def split(group: list[str]) -> None:
        if len(group) <= 2:
            counts.update((run_id, one(run_id)) for run_id in group)
            return
        values = ", ".join(f'"{run_id}"' for run_id in group)
        n = int(store.count_runs(RunQuery(where=f"parent_id in ({values})",
                                          include_archived=include_archived)))
        if n == 0:
            counts.update(dict.fromkeys(group, 0))
            return
        half = len(group) // 2
        split(group[:half])
        split(group[half:])

    plain = [run_id for run_id in ids if _PLAIN_ID.match(run_id)]
    for start in range(0, len(plain), _GROUP):
        split(plain[start:start + _GROUP])
    for run_id in ids:
        if run_id not in counts:  # an id the where language would need escaped: count alone
            counts[run_id] = one(run_id)
    return {run_id: counts[run_id] for run_id in ids}


@router.get("/ui/child-counts")
def child_counts(access: Annotated[Access, Depends(reader)],
                 ids: Annotated[str, Query(description="Run ids, comma-separated.")],
                 include_archived: bool = False) -> JSONResponse:
    """How many children each of ``ids`` has: ``{"counts": {id: n}}``."""
    return JSONResponse({"counts": _count_children(access.store, _ids(ids), include_archived)})


@router.get("/ui/facets")
def facets(
    access: Annotated[Access, Depends(reader)],
    name: str | None = None, parent: str | None = None, kind: str | None = None,
    tag: Annotated[list[str] | None, Query()] = None, where: str | None = None,
    include_archived: bool = False,
) -> JSONResponse:
    """Runs per status matching a listing's filters (all but ``status``):
    ``{"statuses": {status: n}, "total": n}``; states with no runs are left out. A SQL store
    counts them in one ``GROUP BY`` over its ``(workspace, status)`` index."""
    store = access.store
    if isinstance(store, AggregateStore):
        counts = store.status_counts(RunQuery(name=name, parent=parent, kind=kind,
                                              tags=tag or None, where=where,
                                              include_archived=include_archived))
        counts = {s.value: counts[s.value] for s in State if counts.get(s.value)}
        return JSONResponse({"statuses": counts, "total": sum(counts.values())})
    counts = {}
    for state in State:
        if state is State.ARCHIVED and not include_archived:
            continue
        query = RunQuery(status=[state.value], name=name, parent=parent, kind=kind,
                         tags=tag or None, where=where)
        n = access.store.count_runs(query)
        if n:
            counts[state.value] = n
    return JSONResponse({"statuses": counts, "total": sum(counts.values())})


@router.get("/ui/compare")
def compare(access: Annotated[Access, Depends(reader)],
            ids: Annotated[str, Query(description="Run ids, comma-separated.")]) -> JSONResponse:
    """The runs side by side: ``runs`` (records with latest ``metrics``) and ``rows``, one per
    run field, config key, summary key and final metric, with ``differs``."""
    store = access.store
    records = [store.get_run(run_id) for run_id in _ids(ids)]
    latest = store.latest_metrics([r["id"] for r in records])
    for rec in records:
        rec["metrics"] = latest.get(rec["id"], {})
        rec.pop("transitions", None)
    return JSONResponse({"runs": [record_to_json(rec) for rec in records],
                         "rows": stats.compare_rows(records, latest)})


#: Without a SQL store (``AggregateStore``), durations and cost are computed over at most
#: this many of the latest ended runs; a SQL store totals every ended run.
HISTORY_SAMPLE = 5000


@router.get("/ui/history")
def history(
    access: Annotated[Access, Depends(reader)],
    days: Annotated[float, Query(gt=0, le=3660, description="How far back.")] = 14,
    bucket: Annotated[Literal["auto", "hour", "day", "week"], Query()] = "auto",
    until: Annotated[float | None, Query(description="End (epoch seconds; default now).")]
    = None,
) -> JSONResponse:
    """Runs created in the last ``days``: how many per status, in total and per bucket (exact
    counts), the failure rate (failed among ended runs), duration percentiles and cost (of
    every ended run on a SQL store, else of the latest ``HISTORY_SAMPLE``; ``duration.n``
    counts the ended runs with a start, ``duration.of`` every ended run) and the latest
    failures. At most ``MAX_BUCKETS`` buckets: a longer range by a finer bucket is a 422
    naming days and bucket."""
    store = access.store
    end = time.time() if until is None else until
    chosen, size, start, n_buckets = timeline_buckets(days, bucket, end)  # ≤ MAX_BUCKETS
    if isinstance(store, AggregateStore):
        return _history_in_sql(store, chosen, size, start, end, n_buckets)

    def count(states: list[str], lo: float, hi: float) -> int:
        return int(store.count_runs(RunQuery(status=states, created_after=lo, created_before=hi,
                                             include_archived=True)))

    totals = {s.value: n for s in State if (n := count([s.value], start, end))}
    buckets = []
    for i in range(n_buckets):
        lo, hi = start + i * size, min(end, start + (i + 1) * size)
        # One query for an empty bucket; the per-status counts only where there are runs.
        any_runs = bool(totals) and count(list(totals), lo, hi) > 0
        counts = {s: n for s in totals if (n := count([s], lo, hi))} if any_runs else {}
        buckets.append(_bucket(lo, counts))
    sample = store.list_runs(RunQuery(status=list(stats.ENDED), created_after=start,
                                      created_before=end, limit=HISTORY_SAMPLE))
    ended = sum(totals.get(s, 0) for s in stats.ENDED)
    return _history_answer(store, chosen, size, start, end, buckets, totals,
                           stats.durations(sample), stats.costs(sample),
                           sampled=ended > len(sample))


def _bucket(start: float, counts: dict[str, int]) -> dict[str, Any]:
    return {"start": start, "counts": counts, "failed": counts.get("failed", 0),
            "ended": sum(counts.get(s, 0) for s in stats.ENDED),
            "failure_rate": stats.failure_rate(counts)}


def _history_in_sql(store: AggregateStore, chosen: str, size: float, start: float,
                    end: float, n_buckets: int) -> JSONResponse:
    """``history`` from a store that aggregates: one ``GROUP BY`` (bucket, status) for the
    chart, one (status) for the totals, and exact durations and cost of every ended run."""
    span = RunQuery(created_after=start, created_before=end, include_archived=True)
    totals = {s.value: n for s in State if (n := store.status_counts(span).get(s.value))}
    per = store.status_timeline(span, start, size, n_buckets)
    buckets = [_bucket(start + i * size, dict(sorted(per.get(i, {}).items(),
                                                     key=lambda kv: _ORDER[kv[0]])))
               for i in range(n_buckets)]
    figures = store.run_figures(RunQuery(status=list(stats.ENDED), created_after=start,
                                         created_before=end),
                                percentiles=(50, 90, 95, 99)).get(None)
    spread: dict[str, Any] = {"n": 0, "mean": None, "p50": None, "p90": None, "p95": None,
                              "p99": None, "max": None}
    cost: dict[str, Any] = {"total": 0.0, "runs": 0, "currency": None}
    if figures is not None:
        spread.update(figures["duration"])
        currencies = figures["cost"]["currencies"]
        cost = {"total": figures["cost"]["total"], "runs": figures["cost"]["runs"],
                "currency": next(iter(currencies)) if len(currencies) == 1 else None}
    return _history_answer(store, chosen, size, start, end, buckets, totals, spread, cost,
                           sampled=False)


def _history_answer(store: Store, chosen: str, size: float, start: float, end: float,
                    buckets: list[dict[str, Any]], totals: dict[str, int],
                    duration: dict[str, Any], cost: dict[str, Any], *,
                    sampled: bool) -> JSONResponse:
    """The history chart's answer (both paths): totals, buckets, the failure rate, duration
    and cost figures (``sampled`` when they cover only the latest ``HISTORY_SAMPLE``) and
    the latest failures."""
    ended = sum(totals.get(s, 0) for s in stats.ENDED)
    failures = store.list_runs(RunQuery(status=["failed"], created_after=start,
                                        created_before=end, limit=10))
    return JSONResponse({
        "since": start, "until": end, "bucket": chosen, "bucket_s": size, "buckets": buckets,
        "totals": totals, "total": sum(totals.values()), "ended": ended,
        "failed": totals.get("failed", 0), "failure_rate": stats.failure_rate(totals),
        "duration": {**duration, "of": ended, "sampled": sampled},
        "cost": {**cost, "of": ended, "sampled": sampled},
        "recent_failures": _failures(failures)})


_ORDER = {s.value: i for i, s in enumerate(State)}


def _failures(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"id": r["id"], "name": r["name"], "created_at": iso(r["created_at"]),
             "ended_at": iso(r.get("ended_at")),
             "reason": (r.get("failure") or {}).get("reason"),
             "message": (r.get("failure") or {}).get("message")} for r in found]


@router.get("/ui/series/{run_id}/{key:path}")
def series_window(
    run_id: str, key: str, access: Annotated[Access, Depends(reader)],
    max_points: Annotated[int, Query(ge=2, le=100_000)] = 1000,
    x: Annotated[Literal["step", "time"], Query(description="What lo and hi bound.")]
    = "step",
    lo: float | None = None, hi: float | None = None,
) -> JSONResponse:
    """One series as columns for a chart — ``steps``, ``values``, ``times`` and ``stages``
    (runs of ``[first index, stage]``) — cut to the ``[lo, hi]`` window of ``x`` and
    downsampled to ``max_points`` keeping peaks (as ``/metrics/{key}?max_points``), so
    zooming into a long series shows its detail."""
    store = access.store
    store.get_run(run_id)
    if lo is None and hi is None:  # the whole series: the store downsamples its arrays
        whole = store.metrics(run_id, key, max_points)
        return JSONResponse({
            "id": run_id, "key": key, "total": whole.total, "window": whole.total,
            "downsampled": len(whole) < whole.total, "steps": whole.steps,
            "values": whole.values, "times": whole.times, "stages": _stage_runs(whole.stages)})
    series = store.metrics(run_id, key)
    total = len(series)
    steps, values, times, stages = series.steps, series.values, series.times, series.stages
    first, last = 0, total
    if lo is not None or hi is not None:
        if x == "step":
            first = bisect.bisect_left(steps, lo) if lo is not None else 0
            last = bisect.bisect_right(steps, hi) if hi is not None else total
        else:
            low = -float("inf") if lo is None else lo
            high = float("inf") if hi is None else hi
            inside = [i for i, t in enumerate(times) if low <= t <= high]
            first, last = (inside[0], inside[-1] + 1) if inside else (0, 0)
        first = max(0, first - 1)  # one point either side, so lines reach the edges
        last = min(total, last + 1)
    window = values[first:last]
    keep = [first + i for i in minmax_indices(window, max_points)]
    return JSONResponse({
        "id": run_id, "key": key, "total": total, "window": last - first,
        "downsampled": len(keep) < last - first,
        "steps": [steps[i] for i in keep], "values": [values[i] for i in keep],
        "times": [times[i] for i in keep], "stages": _stage_runs([stages[i] for i in keep]),
    })


def _stage_runs(stages: list[str | None]) -> list[list[Any]]:
    """``[[first index, stage], ...]``: where each run of equal stages starts."""
    runs: list[list[Any]] = []
    for pos, stage in enumerate(stages):
        if not runs or runs[-1][1] != stage:
            runs.append([pos, stage])
    return runs



@router.get("/ui/sparklines")
def sparklines(
    access: Annotated[Access, Depends(reader)],
    ids: Annotated[str, Query(description="Run ids, comma-separated.")],
    points: Annotated[int, Query(ge=4, le=500, description="At most this many a run.")] = 40,
) -> JSONResponse:
    """Each run's primary-metric series, downsampled to ``points`` (first, last and each
    bucket's extremes), for the runs table's sparklines — one request for a page of runs:
    ``{"series": {id: {"key", "mode", "total", "steps", "values"}}}``. Runs without a primary
    metric, without points, or not of this workspace are left out."""
    store = access.store
    out: dict[str, Any] = {}
    for run_id in _ids(ids):
        try:
            rec = store.get_run(run_id)
        except PicidaeError:
            continue
        key = ranking.primary(rec)
        if key is None:
            continue
        series = store.metrics(run_id, key[0], points)
        if len(series):
            out[run_id] = {"key": key[0], "mode": key[1], "total": series.total,
                           "steps": series.steps, "values": series.values}
    return JSONResponse({"series": out})


#: The name tree is built from at most this many runs (the newest), and lists at most
#: ``TREE_NODE_CHILDREN`` children a node (then ``{"more": n}``).
TREE_SAMPLE = 5000
TREE_NODE_CHILDREN = 200


@router.get("/ui/name-tree")
def name_tree(
    access: Annotated[Access, Depends(reader)],
    where: Annotated[str | None, Query(description="The listing's filter.")] = None,
    include_archived: bool = False,
) -> JSONResponse:
    """Runs' names as a tree of their ``/``-separated paths (Runicorn-style), each node with
    the number of runs at or below it: ``{"tree": [{"name", "path", "n", "children"}],
    "runs": counted, "sampled": bool}`` — from the newest ``TREE_SAMPLE`` matching runs; past
    ``TREE_NODE_CHILDREN`` children a node's list ends with ``{"more": n}``."""
    query = RunQuery(where=where or None, include_archived=include_archived,
                     limit=TREE_SAMPLE + 1)
    names = [r["name"] for r in access.store.list_runs(query)]
    sampled = len(names) > TREE_SAMPLE
    root: dict[str, Any] = {}
    for name in names[:TREE_SAMPLE]:
        node = root
        parts = name.split("/")
        for depth, part in enumerate(parts):
            entry = node.setdefault(part, {"path": "/".join(parts[:depth + 1]), "n": 0,
                                           "children": {}})
            entry["n"] += 1
            node = entry["children"]

    def listed(level: dict[str, Any]) -> list[dict[str, Any]]:
        parts = sorted(level.items())
        nodes: list[dict[str, Any]] = [
            {"name": part, "path": entry["path"], "n": entry["n"],
             "children": listed(entry["children"])}
            for part, entry in parts[:TREE_NODE_CHILDREN]]
        if len(parts) > TREE_NODE_CHILDREN:  # a flat folder of thousands: name the rest
            nodes.append({"more": len(parts) - TREE_NODE_CHILDREN})
        return nodes

    return JSONResponse({"tree": listed(root), "runs": min(len(names), TREE_SAMPLE),
                         "sampled": sampled})
