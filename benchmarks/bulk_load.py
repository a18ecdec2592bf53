"""Bulk-load realistic runs straight through a store's tables (issue 17: a million runs).

    PYTHONPATH=src .venv/bin/python benchmarks/bulk_load.py --runs 1000000 --store /tmp/million
    PYTHONPATH=src .venv/bin/python benchmarks/bulk_load.py --store postgresql://…/scratch

From another benchmark or a test (``benchmarks/`` on ``sys.path``)::

    from bulk_load import fill, run_spec
    seconds = fill(store, 1_000_000)        # store: an open SqlStore (SQLite or PostgreSQL)

The SDK would take hours for a million runs; this writes the same rows the store writes
(``store.sql.base.field_rows`` for config and summary, ``store.sql.chunks.chunk_rows`` for
points), ``BATCH`` runs per transaction: ``executemany`` on SQLite, ``COPY`` on PostgreSQL.
On a store holding no runs yet, the secondary indexes of the filled tables are dropped first
and built again at the end (a sorted build beats a million random inserts); PostgreSQL's
tables are then analysed, as autovacuum does soon after a bulk load (SQLite is left without
statistics, as a store in use is: see ``store/sql/query.py``).

Run ``i`` of ``n`` (``run_spec``, pure Python and deterministic, so MLflow's filler and the
correctness tests build the same runs) has 20 config values (``lr``, ``optimizer``,
``arch``, ``seed``… and a nested ``data`` section), 5 metrics (``acc``, ``loss``, ``f1``,
``precision``, ``recall``: ``points`` points each, the last being the latest value), 3
summary keys once it has ended, 3 tags, and a status: about 92% completed, 6% failed, 2%
canceled, and the newest 0.5% running or queued (running runs heartbeat at load time, so the
watchdog marks them ``lost`` 15 minutes later, as it would). Every 50th run is a sweep
parent (kind ``sweep``) whose next 10 runs are its children (kind ``sweep-point``, named
under it); names fall into 20 projects × 3 architectures. ``created_at`` spreads over the 180
days before ``END``; ended runs have two transitions (queued → running → end), running runs
two (queued → provisioning → running), queued runs none.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import time
from array import array
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
METRICS = ("acc", "loss", "f1", "precision", "recall")
LRS = (0.1, 0.01, 0.001, 0.0001)
END = 1_795_000_000.0  # 2026-11-18: the newest run is created just before this
SPAN = 180 * 86400.0
BATCH = 20_000
GROUP = 50  # every GROUP-th run is a sweep parent …
CHILDREN = 10  # … of the next CHILDREN runs
#: The tables the loader fills, in the order it fills them.
TABLES = ("runs", "run_fields", "run_tags", "metric_latest", "metric_chunks", "transitions")


def progress(msg: str) -> None:
    print(f"  … {msg}", file=sys.stderr, flush=True)


# -- the runs (pure Python: MLflow's filler and the tests build the same ones) ---------------

def run_spec(i: int, n: int, *, points: int = 3, end: float = END) -> dict[str, Any]:
    """Run ``i`` of ``n`` (see the module docstring): ``config``, ``metrics`` (latest values),
    ``points`` (per metric, a list of values at steps 0…), ``summary``, ``tags``, ``status``,
    ``name``, ``kind``, ``parent`` (the parent's index or ``None``), times."""
    rnd = random.Random(i)
    arch = ("resnet18", "resnet50", "vit")[i % 3]
    config: dict[str, Any] = {
        "lr": LRS[i % 4], "batch_size": 32 * (1 + i % 8),
        "optimizer": ("adam", "sgd", "adamw")[i % 3], "seed": i, "dropout": 0.1 * (i % 5),
        "warmup": i % 2 == 0, "arch": arch, "epochs": 10 * (1 + i % 10),
        "weight_decay": (0.0, 1e-4, 1e-2)[i % 3], "momentum": round(rnd.random(), 6),
        "scheduler": ("cosine", "step", "none")[i % 3], "layers": 2 ** (1 + i % 4),
        "hidden": 64 * (1 + i % 16), "heads": (4, 8, 16)[i % 3],
        "data": {"augment": i % 5 != 0, "subset": f"shard-{i % 7}"},
    }
    for j in range(20 - 16):
        config[f"param_{j}"] = round(rnd.random(), 6)
    step = SPAN / max(n, 1)
    created = end - SPAN + step * (i + rnd.random() * 0.9)
    newest = i >= n - max(1, n // 200)
    roll = rnd.random()
    status = (("queued" if i % 2 else "running") if newest
              else "failed" if roll < 0.06 else "canceled" if roll < 0.08 else "completed")
    started = None if status == "queued" else created + rnd.random() * 30
    ended = None if status in ("queued", "running") else \
        created + 60 + rnd.random() * 3600
    curves = {key: [rnd.random() for _ in range(points)] for key in METRICS} \
        if status != "queued" else {}
    metrics = {key: values[-1] for key, values in curves.items()}
    summary = {"best_acc": max(curves["acc"]), "final_loss": curves["loss"][-1],
               "epochs_done": points} if ended is not None else {}
    slot = i % GROUP
    project = f"proj-{(i // 1000) % 20}"
    parent = i - slot if 0 < slot <= CHILDREN and i - slot >= 0 else None
    if slot == 0:
        name, kind = f"{project}/{arch}/sweep-{i // GROUP}", "sweep"
    elif parent is not None:
        parent_arch = ("resnet18", "resnet50", "vit")[parent % 3]
        name, kind = f"{project}/{parent_arch}/sweep-{parent // GROUP}/trial-{slot}", \
            "sweep-point"
    else:
        name, kind = f"{project}/{arch}/run-{i % 100}", None
    return {"config": config, "metrics": metrics, "points": curves, "summary": summary,
            "created_at": created, "started_at": started, "ended_at": ended,
            "status": status, "name": name, "kind": kind, "parent": parent,
            "tags": ["bench", f"group-{i % 10}", ("gpu", "cpu")[i % 2]]}


# -- rows --------------------------------------------------------------------------------------

def _rows(lo: int, hi: int, n: int, ids: dict[int, str], points: int, now: float
          ) -> dict[str, list[dict[str, Any]]]:
    """The table rows of runs ``lo`` … ``hi - 1`` (``ids``: index → id, filled as it goes)."""
    from picidae.core.ids import new_id
    from picidae.core.run import DATA_FIELDS, data_default
    from picidae.store.base import SeriesChunk
    from picidae.store.sql import chunks as chunkio
    from picidae.store.sql.base import dumps, fact_columns, field_rows

    out: dict[str, list[dict[str, Any]]] = {name: [] for name in TABLES}
    # Shared, never mutated: each document is only serialised.
    defaults = {name: data_default(name) for name in DATA_FIELDS}
    for i in range(lo, hi):
        s = run_spec(i, n, points=points)
        created, started, ended = s["created_at"], s["started_at"], s["ended_at"]
        run_id = ids[i] = new_id(at=created)
        parent_id = ids.get(s["parent"]) if s["parent"] is not None else None
        data = dict(defaults)
        data.update(config=s["config"], tags=s["tags"], summary=s["summary"])
        if s["metrics"]:
            data["primary_metric"] = {"name": "acc", "mode": "max",
                                      "best": max(s["points"]["acc"]),
                                      "step": s["points"]["acc"].index(max(s["points"]["acc"]))}
        if s["status"] == "failed":
            data["failure"] = {"reason": "crash", "message": "RuntimeError: CUDA out of memory"}
        beat = ended if ended is not None else now if started is not None else None
        out["runs"].append({
            "id": run_id, "workspace": "default", "name": s["name"], "alias": None,
            "parent_id": parent_id, "root_id": parent_id or run_id, "kind": s["kind"],
            "status": s["status"], "trigger": "policy" if parent_id else "user",
            "agent": None, "benchmark": None, "seed": i, "attempt": 1, "retry_of": None,
            "replay_of": None, "created_at": created, "started_at": started,
            "ended_at": ended, "last_heartbeat_at": beat, "lost_at": None, "lost_from": None,
            "data": dumps(data), "queue": None, "flow": None, "flow_version": None,
            "notes": None, **fact_columns(data)})
        out["run_fields"].extend(field_rows(run_id, "config", s["config"], created))
        out["run_fields"].extend(field_rows(run_id, "summary", s["summary"], created))
        out["run_tags"].extend({"run_id": run_id, "tag": t} for t in s["tags"])
        last = ended if ended is not None else now
        for key, values in s["points"].items():
            chunk = SeriesChunk(key, None)
            chunk.steps = array("q", range(len(values)))
            chunk.values = array("d", values)
            chunk.times = array("d", (last - (len(values) - 1 - k) * 10.0
                                      for k in range(len(values))))
            out["metric_chunks"].extend(chunkio.chunk_rows(run_id, chunk))
            value = values[-1]
            out["metric_latest"].append({
                "run_id": run_id, "key": key, "step": len(values) - 1,
                "value": None if math.isnan(value) else value, "time": last, "stage": None,
                "count": len(values)})
        if s["status"] == "running":
            moves = [("queued", "provisioning", created), ("provisioning", "running", started)]
        elif ended is not None:
            moves = [("queued", "running", started), ("running", s["status"], ended)]
        else:
            moves = []
        out["transitions"].extend(
            {"run_id": run_id, "from_state": a, "to_state": b, "at": at, "reason": None,
             "actor": "bulk_load"} for a, b, at in moves)
    return out


# -- writing -----------------------------------------------------------------------------------

def _indexes(names: tuple[str, ...] = TABLES) -> Iterator[Any]:
    """The secondary indexes (``Index`` objects of ``tables.py``) of the filled tables."""
    from picidae.store.sql import tables

    for name in names:
        yield from getattr(tables, name).indexes


def _write(conn: Any, dialect: str, table: str, rows: list[dict[str, Any]]) -> None:
    """Insert ``rows`` (dicts with the same keys) into ``table``, at the driver level."""
    if not rows:
        return
    cols = list(rows[0])
    if dialect == "postgresql":
        raw = conn.connection.driver_connection
        with raw.cursor() as cur, cur.copy(
                f"COPY {table} ({', '.join(cols)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row([row[c] for c in cols])
        return
    sql = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
    conn.exec_driver_sql(sql, [tuple(row[c] for c in cols) for row in rows])


def fill(store: Any, n: int = 1_000_000, *, points: int = 3, batch: int = BATCH,
         rebuild_indexes: bool | None = None, quiet: bool = False) -> float:
    """Write ``n`` runs (``run_spec(0, n)`` … ``run_spec(n - 1, n)``) into ``store`` (an open
    ``SqlStore``) and return the seconds it took. ``rebuild_indexes`` (default: when the
    store holds no runs and ``n`` is at least 50,000) drops the filled tables' secondary
    indexes first and builds them at the end."""
    from sqlalchemy import func, select, text

    from picidae.store.sql.tables import runs

    dialect = store.engine.dialect.name
    t0 = time.perf_counter()
    now = time.time()
    with store._tx() as conn:
        empty = conn.execute(select(func.count()).select_from(
            select(runs.c.id).limit(1).subquery())).scalar_one() == 0
    if rebuild_indexes is None:
        rebuild_indexes = empty and n >= 50_000
    if rebuild_indexes:
        with store._tx(write=True) as conn:
            for index in _indexes():
                conn.execute(text(f"DROP INDEX IF EXISTS {index.name}"))
    ids: dict[int, str] = {}
    try:
        for lo in range(0, n, batch):
            hi = min(n, lo + batch)
            rows = _rows(lo, hi, n, ids, points, now)
            with store._tx(write=True) as conn:
                for table in TABLES:
                    _write(conn, dialect, table, rows[table])
            for i in [i for i in ids if i < hi - GROUP]:
                del ids[i]  # only a recent sweep parent is referred to again
            if not quiet:
                progress(f"wrote {hi:,} of {n:,} runs ({time.perf_counter() - t0:.0f} s)")
    finally:
        if rebuild_indexes:
            if not quiet:
                progress("building the indexes")
            with store._tx(write=True) as conn:
                for index in _indexes():
                    index.create(conn, checkfirst=True)
    if dialect == "postgresql":
        with store._tx(write=True) as conn:
            conn.exec_driver_sql("ANALYZE")
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--store", required=True,
                        help="a store folder (SQLite) or a postgresql:// URL")
    parser.add_argument("--points", type=int, default=3, help="points per metric")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    from picidae.store.registry import open_store

    store = open_store(args.store)
    seconds = fill(store, args.runs, points=args.points)
    print(f"loaded {args.runs:,} runs into {args.store} in {seconds:.1f} s "
          f"({args.runs / seconds:,.0f} runs/s)")


if __name__ == "__main__":
    main()
