"""The million-run queries return exactly the right rows (issue 17), at a modest size.

The store is filled by the benchmarks' own loader (``benchmarks/bulk_load.py``), and every
page — filter and metric sort, config and summary sorts (numbers with long ties, booleans,
text, runs without the key), pagination with offsets — is compared with a brute-force
evaluation in Python over the loader's run specs (``run_spec``: independent of the store),
under each plan the planner may take (starting from a small condition, walking an index,
evaluating the sets). No timings: those are ``benchmarks/scale.py``'s.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

import pytest

import picidae
from picidae.core.order import parse_order_by
from picidae.core.validation import flatten
from picidae.core.where import evaluate, parse, stored_value
from picidae.store.base import RunQuery
from picidae.store.sql import query

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from bulk_load import fill, run_spec

N = 3000
MODES = {  # (DRIVER_MAX, WALK_SAMPLE, WALK_BUDGET): which plan the planner may take
    "default": (query.DRIVER_MAX, query.WALK_SAMPLE, query.WALK_BUDGET),
    "walk": (0, 5, 10**9),
    "sets": (0, 5, 0),
}
PAGES: list[tuple[str | None, str, int, int]] = [  # where, order_by, offset, limit
    ("config.lr = 0.01 and metrics.acc > 0.5", "metrics.acc desc", 0, 50),
    ('tags contains "group-3"', "metrics.loss asc", 100, 50),
    (None, "config.momentum desc", 0, 50),
    (None, "config.lr desc", 0, 50),  # a thousand runs tie on each value
    (None, "config.lr asc", N // 4 - 20, 50),  # across two values' ties
    ('config.optimizer = "sgd"', "config.batch_size desc", 0, 50),
    (None, "config.batch_size desc", 50, 50),
    (None, "config.batch_size desc", 100, 50),
    (None, "config.warmup desc", N // 2 - 25, 50),  # booleans: true, then false
    (None, "config.data.augment asc", 0, 30),
    (None, "config.optimizer asc", 0, 20),  # text: the set-based plan
    (None, "summary.best_acc desc", 0, 50),
    ('status = "completed"', "summary.final_loss asc", 10, 50),
    (None, "summary.best_acc asc", N - N // 200 - 20, 50),  # into runs without a summary
    ('config.optimizer = "adam" and config.arch = "vit"', "metrics.f1 desc", 0, 50),  # none
    ("metrics.acc > 0.9", "summary.epochs_done desc", 0, 50),
]


def _records(n: int) -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        s = run_spec(i, n)
        out.append({**s, "seed": i, "config": flatten(s["config"])})
    return out


def _nulls_last(items: list[dict[str, Any]], key: Any, desc: bool) -> list[dict[str, Any]]:
    valued = [r for r in items if key(r) is not None]
    valued.sort(key=key, reverse=desc)  # stable, also reversed
    return valued + [r for r in items if key(r) is None]


def _expected(records: list[dict[str, Any]], where: str | None, order: str) -> list[int]:
    """The seeds of the matching runs in the listing's order, by brute force."""
    tree = parse(where) if where else None
    found = [r for r in records if tree is None or evaluate(tree, r)]
    found.sort(key=lambda r: r["created_at"], reverse=True)  # the tie-break: newest first
    (field, desc), = parse_order_by(order)
    section, _, key = field.partition(".")
    if section == "metrics":
        def value(r: dict[str, Any]) -> float | None:
            v = r["metrics"].get(key)
            return None if v is None or math.isnan(v) else v

        found = _nulls_last(found, value, desc)
    else:
        cells = {r["seed"]: stored_value(r[section].get(key)) for r in found}
        found = _nulls_last(found, lambda r: cells[r["seed"]][1], desc)
        found = _nulls_last(found, lambda r: cells[r["seed"]][0], desc)
    return [r["seed"] for r in found]


def test_million_run_queries_return_exactly_the_brute_force_rows(
        where_store: Any, where_store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    fill(where_store, N, quiet=True)
    records = _records(N)
    for where, order, offset, limit in PAGES:
        want = _expected(records, where, order)[offset:offset + limit]
        q = RunQuery(where=where, order_by=parse_order_by(order), limit=limit, offset=offset,
                     workspace=where_store.workspace)
        for mode, (driver_max, sample, budget) in MODES.items():
            monkeypatch.setattr(query, "DRIVER_MAX", driver_max)
            monkeypatch.setattr(query, "WALK_SAMPLE", sample)
            monkeypatch.setattr(query, "WALK_BUDGET", budget)
            got = [r["seed"] for r in where_store.list_runs(q)]
            assert got == want, (mode, where, order, offset)
            if not offset and mode == "default":  # the SDK's path to the same page
                views = picidae.runs(store=where_store_url, where=where, order_by=order,
                                     limit=limit)
                assert [v.seed for v in views] == want, (mode, where, order)
