"""``history``: how runs went — per status, failure rate, durations and cost — overall and
grouped by name, UTC day or agent.

Figures for a group of runs:

- ``runs`` and ``statuses`` (``{status: n}``; archived runs count as ``archived``);
- ``failed``, ``canceled`` and ``failure_rate``: failed runs among those that ended
  (completed, failed, canceled) — a cancellation is not a failure, but it did end; ``None``
  when none ended; ``failures`` splits the failed runs by ``failure.reason`` (crash, lost,
  timeout, error);
- ``duration``: ``n``, ``mean``, ``p50`` and ``p95`` seconds over runs that ended (p-th
  percentiles linearly interpolated, as ``core.stats.percentile``);
- ``cost``: the total, how many runs had one, and the currency when they agree.

The figures come from ``core.stats``, as the web UI's history page computes them; a SQL store
computes the same figures in the database (``AggregateStore.run_figures``: a few
``GROUP BY`` statements, so a million runs take well under a second) and the records are
loaded only from a store that cannot. The page's
chart counts runs per time bucket (``timeline_buckets`` says which), at most ``MAX_BUCKETS``
of them, so one request can neither run for minutes nor keep a server from stopping.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from picidae.core import stats
from picidae.core.states import TERMINAL
from picidae.errors import InvalidInput
from picidae.store.base import RunQuery, Store
from picidae.store.capabilities import AggregateStore, HistoryStore

GROUPS = ("name", "day", "agent")
_ENDED = {s.value for s in TERMINAL} | {"archived"}

#: Seconds per time bucket of the history chart.
BUCKET_S = {"hour": 3600.0, "day": 86400.0, "week": 7 * 86400.0}
#: At most this many time buckets in one history (each costs a query or a few).
MAX_BUCKETS = 2000


def timeline_buckets(days: float, bucket: str, end: float) -> tuple[str, float, float, int]:
    """The buckets of the last ``days`` before ``end`` (epoch seconds): ``(bucket, size_s,
    start, n)``, ``start`` aligned to whole UTC buckets. ``bucket="auto"`` picks hours up to
    2 days, days up to 90, else weeks. ``InvalidInput`` (naming days and bucket) when that
    makes more than ``MAX_BUCKETS`` buckets."""
    if not math.isfinite(end):
        raise InvalidInput(f"until must be a finite time, got {end!r}", field="until")
    if not (math.isfinite(days) and days > 0):
        raise InvalidInput(f"days must be a positive number, got {days!r}", field="days")
    if bucket == "auto":
        bucket = "hour" if days <= 2 else ("day" if days <= 90 else "week")
    if bucket not in BUCKET_S:
        raise InvalidInput(f"bucket must be auto, hour, day or week, got {bucket!r}",
                           field="bucket")
    size = BUCKET_S[bucket]
    start = end - days * 86400.0
    start -= start % size  # whole buckets, aligned to UTC
    n = max(1, math.ceil((end - start) / size))
    if n > MAX_BUCKETS:
        fits = {b: math.floor((MAX_BUCKETS - 1) * s / 86400.0) for b, s in BUCKET_S.items()}
        coarser = next((b for b, most in fits.items() if days <= most), None)
        hint = f"use bucket={coarser} (or auto), or" if coarser else "ask for"
        raise InvalidInput(f"days={days:g} with bucket={bucket} makes {n} buckets; at most "
                           f"{MAX_BUCKETS}: {hint} at most {fits[bucket]} days by {bucket}",
                           field="days")
    return bucket, size, start, n


def group_key(record: Mapping[str, Any], by: str) -> str:
    """The group a run falls in: its name, its UTC creation day (``YYYY-MM-DD``) or its
    agent (``-`` for none)."""
    if by == "name":
        return str(record["name"])
    if by == "day":
        return datetime.fromtimestamp(record["created_at"], UTC).strftime("%Y-%m-%d")
    return str(record.get("agent") or "-")


def figures(records: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The figures of one group (see the module docstring)."""
    items = list(records)
    counts: dict[str, int] = {}
    reasons: dict[str, int] = {}
    for rec in items:
        counts[rec["status"]] = counts.get(rec["status"], 0) + 1
        if rec["status"] == "failed":
            reason = str((rec.get("failure") or {}).get("reason") or "error")
            reasons[reason] = reasons.get(reason, 0) + 1
    ended = [r for r in items if r["status"] in _ENDED and r.get("ended_at") is not None]
    spread = stats.durations(ended)
    return {
        "runs": len(items),
        "statuses": dict(sorted(counts.items())),
        "failed": counts.get("failed", 0),
        "canceled": counts.get("canceled", 0),
        "failure_rate": stats.failure_rate(counts),
        "failures": dict(sorted(reasons.items())),
        "duration": {"n": spread["n"], "mean": spread["mean"], "p50": spread["p50"],
                     "p95": spread["p95"]},
        "cost": stats.costs(items),
    }


def summarize(records: list[dict[str, Any]], by: str | None) -> dict[str, Any]:
    """History of ``records`` (see ``history``)."""
    groups: dict[str, list[dict[str, Any]]] = {}
    if by is not None:
        for rec in records:
            groups.setdefault(group_key(rec, by), []).append(rec)
    return {"by": by, "total": figures(records),
            "groups": [{"group": key, **figures(items)} for key, items in sorted(groups.items())]}


def history(store: Store, *, where: str | None = None, by: str | None = None,
            created_after: float | None = None,
            created_before: float | None = None) -> dict[str, Any]:
    """The history of the runs matching ``where`` (archived ones included): ``{by, where,
    total, groups}``, ``groups`` one per name, day or agent (sorted) when ``by`` says so.
    Over HTTP the server computes it."""
    if by is not None and by not in GROUPS:
        raise InvalidInput(f"by must be one of {', '.join(GROUPS)}, got {by!r}", field="by")
    if isinstance(store, HistoryStore):
        return store.history(where=where, by=by, created_after=created_after,
                             created_before=created_before)
    query = RunQuery(where=where, include_archived=True, created_after=created_after,
                     created_before=created_before, order_by=[("created_at", False)])
    if isinstance(store, AggregateStore):
        total = store.run_figures(query) if by is not None else None
        return {**from_aggregates(store.run_figures(query, by=by), by, total),
                "where": where}
    return {**summarize(store.list_runs(query), by), "where": where}


def _label(by: str, value: Any) -> str:
    """``group_key`` of a group value the store gave (a UTC day is days since 1970)."""
    if by == "day":
        return datetime.fromtimestamp(int(value) * 86400, UTC).strftime("%Y-%m-%d")
    return str(value)


def _figures_of(part: dict[str, Any]) -> dict[str, Any]:
    """``figures`` from what the store totalled (``AggregateStore.run_figures``)."""
    counts = part["statuses"]
    spread = part["duration"] or {"n": 0, "mean": None}
    cost = part["cost"]
    currencies = cost["currencies"]
    return {
        "runs": sum(counts.values()),
        "statuses": dict(sorted(counts.items())),
        "failed": counts.get("failed", 0),
        "canceled": counts.get("canceled", 0),
        "failure_rate": stats.failure_rate(counts),
        "failures": dict(sorted(part["failures"].items())),
        "duration": {"n": spread["n"], "mean": spread["mean"], "p50": spread.get("p50"),
                     "p95": spread.get("p95")},
        "cost": {"total": cost["total"], "runs": cost["runs"],
                 "currency": next(iter(currencies)) if len(currencies) == 1 else None},
    }


def from_aggregates(groups: dict[Any, dict[str, Any]], by: str | None,
                    total: dict[Any, dict[str, Any]] | None = None) -> dict[str, Any]:
    """``{by, total, groups}`` from ``AggregateStore.run_figures`` grouped by ``by``, with
    ``total`` the ungrouped figures (``None``: ``groups`` is ungrouped)."""
    whole = (groups if total is None else total).get(None)
    return {"by": by, "total": _figures_of(whole) if whole else figures([]),
            "groups": [] if by is None else sorted(
                ({"group": _label(by, value), **_figures_of(part)}
                 for value, part in groups.items()), key=lambda g: str(g["group"]))}
