"""Aggregates over runs, computed by the database: runs per status (the runs page's facets),
runs per time bucket and status (the history chart) and the figures of ``picidae.history``
(statuses, failures by reason, durations, cost) — a few ``GROUP BY`` statements, never the
runs' records loaded into Python, so a million runs answer in well under a second.

Each statement reads a covering index of ``runs`` (``tables.py``) when the query has no
other filter: ``(workspace, status)`` for counts, ``(workspace, created_at, status)`` for
buckets, ``(workspace, ended_at - started_at, status)`` for durations in order and
``(workspace, cost_amount, cost_currency)`` for costs. Percentiles are exact: the values at
the two ranks around each percentile are read (``ORDER BY … LIMIT 2 OFFSET k`` along the
duration index, or ``row_number()`` per group) and interpolated as ``core.stats.percentile``
does, so the figures equal those computed from every record.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, case, func, or_, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import Integer

from picidae.core import stats
from picidae.core.states import State
from picidae.store.base import RunQuery
from picidae.store.sql.query import _filters
from picidae.store.sql.tables import runs

#: The states whose runs count as ended for durations (as ``analysis.history``): the
#: terminal ones, and archived runs (which ended before they were archived).
ENDED = (*stats.ENDED, State.ARCHIVED.value)
#: Groupings of ``figures``: a run's name, its agent, its UTC creation day (days since 1970).
GROUPS = ("name", "agent", "day")

_DURATION = runs.c.ended_at - runs.c.started_at  # the expression of ix_runs_workspace_duration


class floor_div(FunctionElement[int]):
    """``floor(a / b)`` as an integer on every store (SQLite may lack ``floor``)."""

    type = Integer()
    inherit_cache = True


@compiles(floor_div)
def _floor_div(element: floor_div, compiler: SQLCompiler, **kw: Any) -> str:
    a, b = (compiler.process(arg, **kw) for arg in element.clauses)
    whole = f"CAST(({a}) / ({b}) AS INTEGER)"  # truncates toward zero: step down below it
    return f"({whole} - (({a}) / ({b}) < {whole}))"


@compiles(floor_div, "postgresql")
def _floor_div_pg(element: floor_div, compiler: SQLCompiler, **kw: Any) -> str:
    a, b = (compiler.process(arg, **kw) for arg in element.clauses)
    return f"CAST(floor(({a}) / ({b})) AS BIGINT)"


def status_counts(conn: Connection, q: RunQuery) -> dict[str, int]:
    """Runs per status among those ``q`` matches (states without runs left out)."""
    stmt = select(runs.c.status, func.count()).where(*_filters(q)).group_by(runs.c.status)
    return {status: int(n) for status, n in conn.execute(stmt) if n}


def status_timeline(conn: Connection, q: RunQuery, start: float,
                    size: float) -> dict[int, dict[str, int]]:
    """Runs per time bucket and status among those ``q`` matches created at or after
    ``start``: ``{i: {status: n}}`` for the buckets ``[start + i·size, start + (i+1)·size)``
    holding runs."""
    bucket = floor_div(runs.c.created_at - start, size).label("bucket")
    stmt = (select(bucket, runs.c.status, func.count())
            .where(*_filters(q), runs.c.created_at >= start)
            .group_by(bucket, runs.c.status))
    out: dict[int, dict[str, int]] = {}
    for i, status, n in conn.execute(stmt):
        out.setdefault(int(i), {})[status] = int(n)
    return out


def _group(by: str | None) -> ColumnElement[Any] | None:
    if by is None:
        return None
    if by == "name":
        return runs.c.name
    if by == "agent":  # as analysis.history.group_key: "-" for none
        return func.coalesce(func.nullif(runs.c.agent, ""), "-")
    if by == "day":
        return floor_div(runs.c.created_at, 86400.0)
    raise ValueError(f"by must be one of {', '.join(GROUPS)}, got {by!r}")


def _empty() -> dict[str, Any]:
    return {"statuses": {}, "failures": {}, "duration": {"n": 0, "mean": None},
            "cost": {"total": 0.0, "runs": 0, "currencies": set()}}


def figures(conn: Connection, q: RunQuery, *, by: str | None = None,
            percentiles: Iterable[int] = (50, 95)) -> dict[Any, dict[str, Any]]:
    """The parts of ``picidae.history``'s figures for the runs ``q`` matches, per group of
    ``by`` (``None``: one group, keyed ``None``; ``day``: days since 1970, UTC; ``agent``:
``-`` for none):
    ``{group: {statuses, failures, duration, cost}}`` — ``statuses`` and ``failures``
    (failed runs by ``failure.reason``, ``error`` when none) as ``{name: n}``; ``duration``
    over ended runs with a start (``n``, ``mean``, ``max`` and ``p{q}`` for each of
    ``percentiles``, seconds, as ``core.stats.durations``); ``cost`` as ``total``, ``runs``
    and the set of ``currencies``. Groups without runs are left out."""
    group = _group(by)
    keys = [] if group is None else [group]
    conds = _filters(q)
    out: dict[Any, dict[str, Any]] = {}

    def part(key: Any) -> dict[str, Any]:
        return out.setdefault(key, _empty())

    rows = conn.execute(select(*keys, runs.c.status, func.count()).where(*conds)
                        .group_by(*keys, runs.c.status))
    for *key, status, n in rows:
        part(key[0] if key else None)["statuses"][status] = int(n)
    reason = func.coalesce(runs.c.failure_reason, "error")
    rows = conn.execute(select(*keys, reason, func.count())
                        .where(*conds, runs.c.status == State.FAILED.value)
                        .group_by(*keys, reason))
    for *key, why, n in rows:
        failures = part(key[0] if key else None)["failures"]
        failures[why] = failures.get(why, 0) + int(n)
    paid = [*conds, runs.c.cost_amount.is_not(None)]
    for *key, total, n in conn.execute(select(*keys, func.sum(runs.c.cost_amount),
                                              func.count()).where(*paid).group_by(*keys)):
        if n:  # (ungrouped, no run with a cost still makes one row)
            part(key[0] if key else None)["cost"].update(total=float(total), runs=int(n))
    for *key, currency in conn.execute(
            select(*keys, runs.c.cost_currency).where(*paid, runs.c.cost_currency.is_not(None))
            .group_by(*keys, runs.c.cost_currency)):
        part(key[0] if key else None)["cost"]["currencies"].add(currency)
    _durations(conn, conds, group, sorted(set(percentiles)), part)
    return out


def _durations(conn: Connection, conds: list[ColumnElement[bool]],
               group: ColumnElement[Any] | None, qs: list[int], part: Any) -> None:
    """Fill each group's ``duration``: count and mean in one statement, then the values at
    the ranks each percentile needs (and the maximum), interpolated in Python."""
    ended = [*conds, runs.c.status.in_(ENDED), _DURATION.is_not(None)]
    clipped = case((_DURATION < 0, 0.0), else_=_DURATION)  # duration_s: never negative
    keys = [] if group is None else [group]
    counts: dict[Any, int] = {}
    for *key, n, mean in conn.execute(select(*keys, func.count(), func.avg(clipped))
                                      .where(*ended).group_by(*keys)):
        if n:
            k = key[0] if key else None
            counts[k] = int(n)
            part(k)["duration"].update(n=int(n), mean=float(mean))
    if not counts:
        return
    values: dict[Any, dict[int, float]] = {k: {} for k in counts}
    if group is None:
        n = counts[None]
        for lo in sorted({_rank(n, q) for q in qs} | {n - 1}):
            stmt = select(_DURATION).where(*ended).order_by(_DURATION).limit(2).offset(lo)
            for i, value in enumerate(conn.execute(stmt).scalars()):
                values[None][lo + i] = value
    else:
        rn = func.row_number().over(partition_by=group, order_by=_DURATION) - 1
        total = func.count().over(partition_by=group)
        ranked = select(group.label("g"), _DURATION.label("d"), rn.label("rn"),
                        total.label("n")).where(*ended).subquery()
        wanted = [ranked.c.rn == ranked.c.n - 1]
        for q in qs:  # floor((n - 1)·q / 100) in integers, and the rank after it
            low = (ranked.c.n - 1) * q // 100
            wanted += [ranked.c.rn == low, ranked.c.rn == low + 1]
        for g, d, i in conn.execute(select(ranked.c.g, ranked.c.d, ranked.c.rn)
                                    .where(or_(*wanted))):
            values[g][int(i)] = d
    for k, n in counts.items():
        got = values[k]
        at = {i: max(0.0, float(v)) for i, v in got.items()}
        spread = part(k)["duration"]
        spread["max"] = at[n - 1]
        for q in qs:
            pos = (n - 1) * q / 100.0
            lo = math.floor(pos)
            hi = min(lo + 1, n - 1)
            spread[f"p{q}"] = at[lo] + (at[hi] - at[lo]) * (pos - lo)


def _rank(n: int, q: int) -> int:
    """The lower rank ``core.stats.percentile`` reads for the ``q``-th percentile of ``n``."""
    return math.floor((n - 1) * q / 100.0)

