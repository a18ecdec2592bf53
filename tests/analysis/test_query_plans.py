"""The listing planner (``store/sql/query.py``) returns exactly what the one-statement form
returns, whichever plan it picks: starting from a small condition, walking the sort order's
index, or evaluating the sets — on random runs, queries and pages, on every store."""

from __future__ import annotations

import math
import random
from array import array
from typing import Any

import pytest

from picidae.core.ids import new_id
from picidae.core.order import parse_order_by
from picidae.store.base import Batch, RunQuery, SeriesChunk
from picidae.store.sql import query

T0 = 1_790_000_000.0
WHERES = [
    None, "config.lr = 0.01", "config.lr != 0.01", "metrics.acc > 0.5", "metrics.acc <= 0.3",
    'tags contains "a"', 'not tags contains "a"', 'config.opt = "adam"',
    "config.lr = 0.01 and metrics.acc > 0.2", 'config.opt in ("adam", "sgd") and seed > 3',
    'name = "n/1"', 'status = "failed"', 'name like "n/%" and metrics.loss < 0.5',
    "config.lr = 0.1 or metrics.acc > 0.8", "metrics.acc is null", "seed in (1, 2, 3)",
    'config.opt = "adam" and config.lr = 0.001 and tags contains "b"', "stale = false",
    "metrics.acc > 5", 'id = "nope"', "duration_s > 100",
]
ORDERS = [None, "metrics.acc desc", "metrics.acc asc", "metrics.loss desc", "created_at",
          "created_at desc", "config.lr desc", "name, metrics.acc desc", "seed desc",
          "config.lr asc", "config.flag desc", "config.flag asc", "summary.s desc",
          "summary.s asc", "config.opt desc"]


def _fill(store: Any, rnd: random.Random, n: int) -> None:
    for i in range(n):
        run_id = new_id()
        created = T0 + rnd.choice([0, 1, 2, 3]) * 60 + (i % 3)  # plenty of ties
        store.create_run({
            "id": run_id, "name": f"n/{rnd.randint(0, 3)}", "root_id": run_id,
            "status": rnd.choice(["completed", "completed", "failed", "canceled", "archived"]),
            "trigger": "user", "attempt": 1, "seed": rnd.choice([None, 1, 2, 3, 4, 5]),
            "created_at": created, "started_at": created, "ended_at": created + rnd.randint(0, 300),
            "config": {k: v for k, v in (("lr", rnd.choice([0.1, 0.01, 0.001])),
                                         ("opt", rnd.choice(["adam", "sgd", 3])))
                       if rnd.random() < 0.85},
            "tags": [t for t in ("a", "b", "c") if rnd.random() < 0.4], "transitions": [],
            # Booleans beside the same numbers (True and 1 tie on the number, the text
            # decides), and a summary mixing numbers, text and NaN.
            "summary": {"s": rnd.choice([0.5, 1, 2, True, "x", math.nan, math.inf])}
            if rnd.random() < 0.8 else {},
        })
        if rnd.random() < 0.9:  # config edited by a batch: the rewritten rows sort the same
            store.write(run_id, Batch(config={"flag": rnd.choice([True, False, 1, 0, 1.0, 2])},
                                      backfill=True))
        chunks = []
        for key in ("acc", "loss"):
            if rnd.random() < 0.8:
                value = rnd.choice([0.1, 0.25, 0.5, 0.5, 0.75, 0.9, math.nan, rnd.random()])
                chunks.append(SeriesChunk(key, None, array("q", [0]), array("d", [value]),
                                          array("d", [created])))
        if chunks:
            store.write(run_id, Batch(chunks=chunks, backfill=True))  # a whole run, ended


MODES = {  # (DRIVER_MAX, WALK_SAMPLE, WALK_BUDGET): which plan the planner may take
    "driver": (10_000, 5, 10**9),
    "walk": (0, 5, 10**9),
    "sets": (0, 5, 0),
}


@pytest.mark.parametrize("seed", [1, 2])
def test_every_plan_returns_what_the_one_statement_form_returns(
        where_store: Any, monkeypatch: pytest.MonkeyPatch, seed: int) -> None:
    rnd = random.Random(seed)
    _fill(where_store, rnd, 60)
    cases = [(w, o) for w in WHERES for o in ORDERS]
    rnd.shuffle(cases)
    checked = 0
    for where, order in cases[:90]:
        limit, offset = rnd.choice([(5, 0), (5, 7), (20, 0), (3, 40), (50, 0)])
        q = RunQuery(where=where, order_by=parse_order_by(order), limit=limit,
                     offset=offset, include_archived=rnd.random() < 0.3,
                     workspace=where_store.workspace)
        with where_store._tx() as conn:
            expected = [r.id for r in conn.execute(query.list_statement(q))]
            for mode, (driver_max, sample, budget) in MODES.items():
                monkeypatch.setattr(query, "DRIVER_MAX", driver_max)
                monkeypatch.setattr(query, "WALK_SAMPLE", sample)
                monkeypatch.setattr(query, "WALK_BUDGET", budget)
                got = [r.id for r in query.run_rows(conn, q)]
                assert got == expected, (mode, where, order, limit, offset)
        checked += 1
    assert checked == 90
