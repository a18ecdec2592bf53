"""Facets, the history chart's buckets and ``picidae.history`` computed in SQL
(``store/sql/aggregates.py``) equal a brute-force count over every record, on SQLite and
PostgreSQL, at a few thousand runs written straight through the tables (every state, runs
without a start or an end, negative durations, failures with and without a reason, costs in
one currency, another and none, agents ``None``, ``""`` and ``-``)."""

from __future__ import annotations

import math
import random
from typing import Any

import pytest

from picidae.analysis import history as hist
from picidae.core.states import State
from picidae.store.base import RunQuery
from picidae.store.capabilities import AggregateStore
from picidae.store.sql.base import dumps, fact_columns
from picidae.store.sql.tables import runs

N = 3000
START = 1_790_000_000.0
DAY = 86400.0
STATES = [s.value for s in State]


def _fill(store: Any, n: int = N) -> None:
    rnd = random.Random(17)
    rows = []
    for i in range(n):
        status = STATES[i % len(STATES)] if i % 3 else "completed"
        created = START + rnd.random() * 20 * DAY
        started = None if i % 17 == 0 else created + rnd.random() * 60
        ended = None if status in ("queued", "running", "provisioning") or i % 23 == 0 \
            else (started or created) + (-5.0 if i % 13 == 0 else 0.0 if i % 19 == 0
                                         else rnd.random() * 3600)
        data: dict[str, Any] = {"config": {}, "summary": {}, "tags": []}
        if status == "failed" and i % 4:
            data["failure"] = {"reason": rnd.choice(["crash", "lost", "timeout", ""])}
        if i % 7 == 0:
            data["cost"] = {"amount": round(rnd.random() * 3, 2),
                            "currency": "USD" if i % 5 else "EUR"}
        elif i % 11 == 0:
            data["cost"] = 0.5
        rows.append({"id": f"r{i:05d}", "workspace": "default",
                     "name": f"proj/{('a', 'b', 'c')[i % 3]}", "status": status,
                     "parent_id": "r00000" if i % 10 == 5 else None,
                     "agent": (None, "", "-", "claude", "gpt")[i % 5], "attempt": 1,
                     "created_at": created, "started_at": started, "ended_at": ended,
                     "data": dumps(data), **fact_columns(data)})
    with store._tx(write=True) as conn:
        conn.execute(runs.insert(), rows)


@pytest.fixture
def filled(where_store: Any) -> Any:
    _fill(where_store)
    assert isinstance(where_store, AggregateStore)
    return where_store


def _records(store: Any, **filters: Any) -> list[dict[str, Any]]:
    return store.list_runs(RunQuery(include_archived=True, **filters))  # type: ignore


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    return bool(a == b)


def test_status_counts_and_count_equal_counting_every_record(filled: Any) -> None:
    every = _records(filled)
    for include_archived in (False, True):
        want: dict[str, int] = {}
        for rec in every:
            if include_archived or rec["status"] != "archived":
                want[rec["status"]] = want.get(rec["status"], 0) + 1
        got = filled.status_counts(RunQuery(include_archived=include_archived))
        assert got == want
        assert filled.count_runs(RunQuery(include_archived=include_archived)) == \
            sum(want.values())
    named = [r for r in every if r["name"] == "proj/a" and r["status"] != "archived"]
    got = filled.status_counts(RunQuery(where='name = "proj/a"', include_archived=False))
    assert sum(got.values()) == len(named) == filled.count_runs(
        RunQuery(name="proj/a", include_archived=False))
    assert filled.count_runs(RunQuery(status=["failed", "lost"])) == \
        sum(1 for r in every if r["status"] in ("failed", "lost"))
    # The runs page's top-level runs, and one run's children: index ranges too.
    for where, parent in (("parent_id is null", None), ('parent_id = "r00000"', "r00000")):
        want = {}
        for rec in every:
            if rec["parent_id"] == parent and rec["status"] != "archived":
                want[rec["status"]] = want.get(rec["status"], 0) + 1
        query = RunQuery(where=where, include_archived=False)
        assert filled.status_counts(query) == want
        assert filled.count_runs(query) == sum(want.values())
    assert filled.status_counts(RunQuery(parent="r00000", status=["completed"])) == {
        "completed": sum(1 for r in every if r["parent_id"] == "r00000"
                         and r["status"] == "completed")}


def test_timeline_equals_bucketing_every_record(filled: Any) -> None:
    start, size, n = START + 2 * DAY, DAY / 4, 50
    every = _records(filled)
    want: dict[int, dict[str, int]] = {}
    for rec in every:
        for i in range(n):
            lo = start + i * size
            if lo <= rec["created_at"] < lo + size:
                counts = want.setdefault(i, {})
                counts[rec["status"]] = counts.get(rec["status"], 0) + 1
    assert filled.status_timeline(RunQuery(include_archived=True), start, size, n) == want
    # With another filter the store groups instead of counting ranges: the same answer.
    some = filled.status_timeline(RunQuery(include_archived=True, where='name = "proj/b"'),
                                  start, size, n)
    assert sum(sum(c.values()) for c in some.values()) == sum(
        1 for r in every if r["name"] == "proj/b" and start <= r["created_at"] < start + n * size)


@pytest.mark.parametrize("by", [None, "name", "day", "agent"])
def test_history_equals_the_figures_of_every_record(filled: Any, by: str | None) -> None:
    got = hist.history(filled, by=by)
    want = {**hist.summarize(_records(filled, order_by=[("created_at", False)]), by),
            "where": None}
    assert _same(got, want), (got, want)


def test_history_with_a_filter_and_a_time_range(filled: Any) -> None:
    lo, hi = START + 3 * DAY, START + 9 * DAY
    got = hist.history(filled, where='agent = "claude"', created_after=lo, created_before=hi)
    records = _records(filled, where='agent = "claude"', created_after=lo, created_before=hi,
                       order_by=[("created_at", False)])
    assert records and _same(got, {**hist.summarize(records, None),
                                   "where": 'agent = "claude"'})


@pytest.mark.parametrize("where", ['parent_id = "r00000"', "parent_id is null"])
def test_history_of_one_parents_children_or_of_top_level_runs(filled: Any, where: str) -> None:
    """A parent condition (the runs page's own filters) used to raise TypeError: the check
    for 'whole states' compared a SQL condition with None."""
    got = hist.history(filled, where=where)
    records = _records(filled, where=where, order_by=[("created_at", False)])
    assert records and _same(got, {**hist.summarize(records, None), "where": where})
