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

from sqlalchemy import Connection, String, case, func, literal, or_, select, union_all
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import Integer

from picidae.core import stats
from picidae.core.states import State
from picidae.core.where import Compare, Field, IsNull, parse
from picidae.store.base import RunQuery
from picidae.store.sql.query import _filters, count_statement
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


def _states(q: RunQuery) -> list[str]:
    """The states a query admits, in the enum's order."""
    if q.status:
        return [s.value for s in State if s.value in q.status]
    return [s.value for s in State if q.include_archived or s is not State.ARCHIVED]


def _parent(q: RunQuery) -> tuple[bool, ColumnElement[bool] | None]:
    """Whether the query filters on workspace, status, creation time and parent only (its
    ``where`` no more than ``parent_id is null`` or ``parent_id = "…"``: the runs page's
    top-level runs), and the condition on the parent. Then runs per status are ranges of
    the ``(workspace, status, created_at)`` or ``(workspace, parent_id, status)`` index."""
    if q.name or q.root or q.kind or q.tags:
        return False, None
    parent = None if not q.parent else runs.c.parent_id == q.parent
    if not (q.where and q.where.strip()):
        return True, parent
    node = parse(q.where)
    if parent is None and node == IsNull(Field("run", "parent_id"), negated=False):
        return True, runs.c.parent_id.is_(None)
    if (parent is None and isinstance(node, Compare) and node.op == "="
            and node.field == Field("run", "parent_id") and isinstance(node.value, str)):
        return True, runs.c.parent_id == node.value
    return False, None


def _plain(q: RunQuery) -> bool:
    return _parent(q)[0]


def _range(q: RunQuery, state: str) -> list[ColumnElement[bool]]:
    conds = [runs.c.workspace == q.workspace, runs.c.status == state]
    parent = _parent(q)[1]
    if parent is not None:
        conds.append(parent)
    if q.created_after is not None:
        conds.append(runs.c.created_at >= q.created_after)
    if q.created_before is not None:
        conds.append(runs.c.created_at < q.created_before)
    return conds


def status_counts(conn: Connection, q: RunQuery) -> dict[str, int]:
    """Runs per status among those ``q`` matches (states without runs left out). Without
    other filters, one index range count per state (a ``GROUP BY`` would sort every run);
    else one ``GROUP BY status``."""
    stmt: Any
    if _plain(q):
        states = _states(q)
        if not states:
            return {}
        stmt = union_all(*(select(literal(state, String).label("status"),
                                  func.count().label("n")).where(*_range(q, state))
                           for state in states))
    else:
        stmt = select(runs.c.status, func.count()).where(*_filters(q)).group_by(runs.c.status)
    return {status: int(n) for status, n in conn.execute(stmt) if n}


def count(conn: Connection, q: RunQuery) -> int:
    """How many runs ``q`` matches: the sum of ``status_counts`` without other filters (a
    range count per state beats ``status != 'archived'`` over every run), else ``COUNT``."""
    if _plain(q):
        return sum(status_counts(conn, q).values())
    return int(conn.execute(count_statement(q)).scalar_one())


def status_timeline(conn: Connection, q: RunQuery, start: float,
                    size: float, n: int) -> dict[int, dict[str, int]]:
    """Runs per time bucket and status among those ``q`` matches, for the ``n`` buckets
    ``[start + i·size, start + (i+1)·size)``: ``{i: {status: n}}``, empty buckets left out.
    Without other filters, a range count of the ``(workspace, status, created_at)`` index per
    bucket and state that has runs (a ``GROUP BY`` bucket would sort every run); else one
    ``GROUP BY`` bucket, status."""
    out: dict[int, dict[str, int]] = {}
    if not _plain(q):
        bucket = floor_div(runs.c.created_at - start, size).label("bucket")
        stmt = (select(bucket, runs.c.status, func.count())
                .where(*_filters(q), runs.c.created_at >= start,
                       runs.c.created_at < start + n * size)
                .group_by(bucket, runs.c.status))
        for i, status, found in conn.execute(stmt):
            out.setdefault(int(i), {})[status] = int(found)
        return out
    end = start + n * size
    span = RunQuery(workspace=q.workspace, status=q.status, include_archived=q.include_archived,
                    created_after=start if q.created_after is None
                    else max(start, q.created_after),
                    created_before=end if q.created_before is None
                    else min(end, q.created_before))
    steps = select(literal(0, Integer).label("i")).cte("steps", recursive=True)
    steps = steps.union_all(select(steps.c.i + 1).where(steps.c.i < n - 1))
    first, last = span.created_after, span.created_before
    assert first is not None and last is not None
    lo = start + steps.c.i * size
    # One pair of bounds on created_at (the bucket's, clipped to the span), or the planner
    # may seek by the span's and walk all of it for every bucket.
    low = case((lo < first, first), else_=lo)
    high = case((lo + size > last, last), else_=lo + size)
    for state in status_counts(conn, span):
        per = (select(func.count()).where(runs.c.workspace == q.workspace,
                                          runs.c.status == state, runs.c.created_at >= low,
                                          runs.c.created_at < high)
               .scalar_subquery())
        for i, found in conn.execute(select(steps.c.i, per)):
            if found:
                out.setdefault(int(i), {})[state] = int(found)
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

    if group is None and _plain(q):
        rows: Any = ((state, n) for state, n in status_counts(conn, q).items())
    else:
        rows = conn.execute(select(*keys, runs.c.status, func.count()).where(*conds)
                            .group_by(*keys, runs.c.status))
    for *key, status, n in rows:
        part(key[0] if key else None)["statuses"][status] = int(n)
    reason = runs.c.failure_reason
    rows = conn.execute(select(*keys, reason, func.count())
                        .where(*conds, runs.c.status == State.FAILED.value)
                        .group_by(*keys, reason))
    for *key, why, n in rows:
        failures = part(key[0] if key else None)["failures"]
        failures[why or "error"] = failures.get(why or "error", 0) + int(n)
    qs = sorted(set(percentiles))
    if group is None and not _whole(q):
        _fetched(conn, conds, qs, part(None))
        return out
    paid = [*conds, runs.c.cost_amount.is_not(None)]
    for *key, total, n in conn.execute(select(*keys, func.sum(runs.c.cost_amount),
                                              func.count()).where(*paid).group_by(*keys)):
        if n:  # (ungrouped, no run with a cost still makes one row)
            part(key[0] if key else None)["cost"].update(total=float(total), runs=int(n))
    for *key, currency in conn.execute(
            select(*keys, runs.c.cost_currency).where(*paid, runs.c.cost_currency.is_not(None))
            .group_by(*keys, runs.c.cost_currency)):
        part(key[0] if key else None)["cost"]["currencies"].add(currency)
    _durations(conn, conds, group, qs, part)
    return out


def _whole(q: RunQuery) -> bool:
    """Whether the query takes whole states of the workspace (no other filter, no time
    range): then durations are read along the duration index; else the matching runs'
    durations and costs are read (``_fetched``), as a walk along that index would test
    (and, without a covering column, look up) every run for the few that match."""
    plain, parent = _parent(q)
    return plain and parent is None and q.created_after is None and q.created_before is None


def _fetched(conn: Connection, conds: list[ColumnElement[bool]], qs: list[int],
             into: dict[str, Any]) -> None:
    """Durations and cost of the runs ``conds`` match, read as rows (a time range, a
    filter: a fraction of the runs) and totalled here as ``core.stats`` does."""
    values: list[float] = []
    cost = into["cost"]
    stmt = select(runs.c.status, _DURATION, runs.c.cost_amount, runs.c.cost_currency) \
        .where(*conds, or_(_DURATION.is_not(None), runs.c.cost_amount.is_not(None)))
    for status, d, amount, currency in conn.execute(stmt):
        if d is not None and status in ENDED:
            values.append(max(0.0, float(d)))
        if amount is not None:
            cost["total"] += amount
            cost["runs"] += 1
            if currency:
                cost["currencies"].add(currency)
    if values:
        values.sort()
        n = len(values)
        into["duration"].update(n=n, mean=math.fsum(values) / n)
        _interpolate(into["duration"], n, dict(enumerate(values)), qs)


def _durations(conn: Connection, conds: list[ColumnElement[bool]],
               group: ColumnElement[Any] | None, qs: list[int], part: Any) -> None:
    """Fill each group's ``duration`` (see ``figures``): the values at the ranks each
    percentile needs are read, then interpolated as ``core.stats.percentile`` does."""
    if group is None:
        _spread(conn, conds, qs, part(None)["duration"])
        return
    ended = [*conds, runs.c.status.in_(ENDED), _DURATION.is_not(None)]
    clipped = case((_DURATION < 0, 0.0), else_=_DURATION)  # duration_s: never negative
    counts: dict[Any, int] = {}
    for key, n, mean in conn.execute(select(group, func.count(), func.avg(clipped))
                                     .where(*ended).group_by(group)):
        if n:
            counts[key] = int(n)
            part(key)["duration"].update(n=int(n), mean=float(mean))
    values: dict[Any, dict[int, float]] = {k: {} for k in counts}
    rn = func.row_number().over(partition_by=group, order_by=_DURATION) - 1
    total = func.count().over(partition_by=group)
    ranked = select(group.label("g"), _DURATION.label("d"), rn.label("rn"),
                    total.label("n")).where(*ended).subquery()
    wanted = [ranked.c.rn == ranked.c.n - 1]
    for q in qs:  # floor((n - 1)·q / 100) in integers, and the rank after it
        low = (ranked.c.n - 1) * q // 100
        wanted += [ranked.c.rn == low, ranked.c.rn == low + 1]
    if counts:
        for g, d, i in conn.execute(select(ranked.c.g, ranked.c.d, ranked.c.rn)
                                    .where(or_(*wanted))):
            values[g][int(i)] = d
    for k, n in counts.items():
        _interpolate(part(k)["duration"], n, values[k], qs)


def _spread(conn: Connection, conds: list[ColumnElement[bool]], qs: list[int],
            spread: dict[str, Any]) -> None:
    """``duration`` of all the runs ``conds`` match, along the duration index: the runs with
    a duration, less the few in states that have not ended (the status test on every entry
    would cost more than the sum); the values at each rank by walking from the nearer end;
    negative durations (a clock that stepped back) count as 0, as ``duration_s``."""
    timed = [*conds, _DURATION.is_not(None)]
    others = [s.value for s in State if s.value not in ENDED]
    n_all, sum_all = conn.execute(select(func.count(), func.sum(_DURATION))
                                  .where(*timed)).one()
    n_out, sum_out = conn.execute(select(func.count(), func.sum(_DURATION))
                                  .where(*timed, runs.c.status.in_(others))).one()
    n = int(n_all) - int(n_out)
    if n <= 0:
        return
    ended = timed if not n_out else [*timed, runs.c.status.in_(ENDED)]
    total = float(sum_all) - float(sum_out or 0.0)
    lowest = conn.execute(select(_DURATION).where(*ended).order_by(_DURATION).limit(1)).scalar()
    if lowest is not None and lowest < 0:
        total -= float(conn.execute(select(func.sum(_DURATION))
                                    .where(*ended, _DURATION < 0)).scalar_one())
    spread.update(n=n, mean=total / n)
    values: dict[int, float] = {}
    for lo in sorted({_rank(n, q) for q in qs} | {n - 1}):
        if lo in values and lo + 1 in values:
            continue
        if lo < n // 2:  # ranks lo and lo + 1, from the bottom
            stmt = select(_DURATION).where(*ended).order_by(_DURATION).limit(2).offset(lo)
            values.update((lo + i, v) for i, v in enumerate(conn.execute(stmt).scalars()))
        else:  # ranks lo + 1 and lo, from the top
            skip = max(0, n - 2 - lo)
            stmt = (select(_DURATION).where(*ended).order_by(_DURATION.desc()).limit(2)
                    .offset(skip))
            values.update((n - 1 - skip - i, v)
                          for i, v in enumerate(conn.execute(stmt).scalars()))
    _interpolate(spread, n, values, qs)


def _interpolate(spread: dict[str, Any], n: int, values: dict[int, float],
                 qs: list[int]) -> None:
    """``max`` and ``p{q}`` from the values at their ranks (``core.stats.percentile``)."""
    at = {i: max(0.0, float(v)) for i, v in values.items()}
    spread["max"] = at[n - 1]
    for q in qs:
        pos = (n - 1) * q / 100.0
        lo = math.floor(pos)
        hi = min(lo + 1, n - 1)
        spread[f"p{q}"] = at[lo] + (at[hi] - at[lo]) * (pos - lo)


def _rank(n: int, q: int) -> int:
    """The lower rank ``core.stats.percentile`` reads for the ``q``-th percentile of ``n``."""
    return math.floor((n - 1) * q / 100.0)

