"""The analysis benchmarks of issue 6: querying 100,000 runs, Picidae against MLflow.

    .venv/bin/python benchmarks/analysis.py              # SQLite, PostgreSQL and MLflow
    .venv/bin/python benchmarks/analysis.py --runs 10000 --no-mlflow --no-postgres

A store of ``--runs`` runs, each with 20 config values, 5 metrics (latest values and three
stored points each), 3 summary keys, 3 tags and two transitions, is written straight
through the store's tables by ``bulk_load.py`` (see there; the SDK would take minutes for
this many); PostgreSQL's tables are then analysed, as its autovacuum does soon after a bulk
load (SQLite is left without statistics, as a store in use is: see
``store/sql/query.py``). Timed, as the median of ``--repeat`` calls after one warm-up:

- Q1 ``picidae.runs(where='config.lr = 0.01 and metrics.acc > 0.5',
  order_by='metrics.acc desc', limit=50)``: target under 50 ms;
- Q2 page 1 of every run, newest first (``picidae.runs(limit=50)``): target under 20 ms;
- MLflow (in ``.venv-bench``, through a subprocess): the same runs written into its SQLite
  tracking database, then ``MlflowClient.search_runs`` with ``params.lr = '0.01' and
  metrics.acc > 0.5`` ordered by ``metrics.acc DESC``, ``max_results=50`` (MLflow params are
  strings), and its page 1 (``search_runs`` with ``max_results=50``).

PostgreSQL is ``PICIDAE_TEST_PG`` (default ``postgresql://postgres@127.0.0.1:5432/test``); a
scratch database is created and dropped.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bulk_load import fill, run_spec

perf = time.perf_counter
ROOT = Path(__file__).resolve().parent.parent
BENCH_PYTHON = ROOT / ".venv-bench" / "bin" / "python"
PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"
WHERE = "config.lr = 0.01 and metrics.acc > 0.5"
ORDER = "metrics.acc desc"
MLFLOW_FILTER = "params.lr = '0.01' and metrics.acc > 0.5"


def progress(msg: str) -> None:
    print(f"  … {msg}", file=sys.stderr, flush=True)


# -- Picidae (the runs come from bulk_load.py, shared with the million-run benchmark) ----

def timed(fn: Any, repeat: int) -> list[float]:
    fn()  # warm-up: caches, the first connection
    out = []
    for _ in range(repeat):
        t = perf()
        fn()
        out.append(perf() - t)
    return out


def bench_picidae(url: str, n: int, repeat: int) -> dict[str, Any]:
    import picidae
    from picidae.store.registry import open_store

    store = open_store(url)
    fill_s = fill(store, n)  # analyses PostgreSQL, as autovacuum does after a bulk load
    q1 = picidae.runs(store=url, where=WHERE, order_by=ORDER, limit=50)
    check = [run_spec(int(r.seed), n) for r in q1]
    assert len(q1) == 50 and all(c["config"]["lr"] == 0.01 for c in check)
    accs = [c["metrics"]["acc"] for c in check]
    assert accs == sorted(accs, reverse=True) and accs[-1] > 0.5
    q2 = picidae.runs(store=url, limit=50)
    assert len(q2) == 50 and q2[0].seed == n - 1
    return {
        "fill_s": fill_s,
        "q1": timed(lambda: picidae.runs(store=url, where=WHERE, order_by=ORDER, limit=50),
                    repeat),
        "q2": timed(lambda: picidae.runs(store=url, limit=50), repeat),
        "count": store.count_runs(__import__("picidae.store.base", fromlist=["RunQuery"])
                                  .RunQuery(where=WHERE)),
    }


def pg_scratch(base: str) -> tuple[str, Any]:
    """A new database on the server of ``base`` and a function that drops it."""
    import psycopg
    from psycopg import sql
    from sqlalchemy.engine import make_url

    url = make_url("postgresql+psycopg://" + base.split("://", 1)[1])
    admin_info = url.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"picidae_bench_{secrets.token_hex(4)}"
    with psycopg.connect(admin_info, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))

    def drop() -> None:
        from picidae.store import registry

        registry.close_all()
        with psycopg.connect(admin_info, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))

    target = url.set(database=name).render_as_string(hide_password=False)
    return "postgresql://" + target.split("://", 1)[1], drop


# -- MLflow (runs in .venv-bench) -------------------------------------------------------------

def mlflow_fill(folder: str, n: int) -> tuple[Any, str, float]:
    """MLflow's SQLite tracking store in ``folder`` with the same ``n`` runs, written into its
    tables (params as text, ``latest_metrics`` filled, ``ANALYZE`` run): ``(client,
    experiment id, seconds)``. Runs in ``.venv-bench``."""
    import logging
    import sqlite3
    import uuid
    import warnings

    warnings.filterwarnings("ignore")
    logging.getLogger("mlflow").setLevel(logging.ERROR)
    logging.getLogger("alembic").setLevel(logging.ERROR)
    from mlflow import MlflowClient

    db = Path(folder) / "mlflow.db"
    uri = f"sqlite:///{db}"
    client = MlflowClient(tracking_uri=uri)
    exp = client.create_experiment("bench", artifact_location=str(Path(folder) / "art"))
    t = perf()
    con = sqlite3.connect(db)
    status = {"completed": "FINISHED", "failed": "FAILED", "canceled": "KILLED",
              "running": "RUNNING", "queued": "SCHEDULED"}
    for lo in range(0, n, 5000):
        runs: list[tuple[Any, ...]] = []
        params: list[tuple[Any, ...]] = []
        tags: list[tuple[Any, ...]] = []
        metrics: list[tuple[Any, ...]] = []
        latest: list[tuple[Any, ...]] = []
        for i in range(lo, min(n, lo + 5000)):
            s = run_spec(i, n)
            rid = uuid.UUID(int=random.Random(-i).getrandbits(128)).hex
            start = int(s["created_at"] * 1000)
            end = None if s["ended_at"] is None else int(s["ended_at"] * 1000)
            runs.append((rid, s["name"], "LOCAL", "bench", "", "bench", status[s["status"]],
                         start, end, None, "", "active", f"{folder}/art/{rid}", exp))
            params.extend((k, str(v), rid) for k, v in s["config"].items())
            tags.extend((tag, "", rid) for tag in s["tags"])
            tags.append(("mlflow.runName", s["name"], rid))
            for key, value in s["metrics"].items():
                metrics.append((key, value, end or start, rid, 0, 0))
                latest.append((key, value, end or start, 0, 0, rid))
        con.executemany(
            "INSERT INTO runs (run_uuid, name, source_type, source_name, entry_point_name, "
            "user_id, status, start_time, end_time, deleted_time, source_version, "
            "lifecycle_stage, artifact_uri, experiment_id) VALUES "
            "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", runs)
        con.executemany("INSERT INTO params (key, value, run_uuid) VALUES (?, ?, ?)", params)
        con.executemany("INSERT INTO tags (key, value, run_uuid) VALUES (?, ?, ?)", tags)
        con.executemany("INSERT INTO metrics (key, value, timestamp, run_uuid, step, is_nan) "
                        "VALUES (?, ?, ?, ?, ?, ?)", metrics)
        con.executemany("INSERT INTO latest_metrics (key, value, timestamp, step, is_nan, "
                        "run_uuid) VALUES (?, ?, ?, ?, ?, ?)", latest)
        con.commit()
    con.execute("ANALYZE")
    con.commit()
    con.close()
    return client, exp, perf() - t


def mlflow_worker(folder: str, n: int, repeat: int) -> None:
    """Build MLflow's store of the same runs and time its searches; print JSON."""
    client, exp, fill_s = mlflow_fill(folder, n)

    def q1() -> list[Any]:
        return list(client.search_runs([exp], MLFLOW_FILTER, order_by=["metrics.acc DESC"],
                                        max_results=50))

    def q2() -> list[Any]:
        return list(client.search_runs([exp], max_results=50))

    found = q1()
    assert len(found) == 50 and all(r.data.params["lr"] == "0.01" for r in found)
    print(json.dumps({"fill_s": fill_s, "q1": timed(q1, repeat), "q2": timed(q2, repeat),
                      "version": __import__("mlflow").__version__}))


def bench_mlflow(n: int, repeat: int, folder: Path) -> dict[str, Any] | None:
    if not BENCH_PYTHON.exists():
        progress(f"no {BENCH_PYTHON}: skipping MLflow (bash benchmarks/run creates it)")
        return None
    proc = subprocess.run([str(BENCH_PYTHON), __file__, "--mlflow-worker", str(folder),
                           "--runs", str(n), "--repeat", str(repeat)],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"the MLflow worker failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


# -- the table -------------------------------------------------------------------------------

def ms(values: list[float] | None) -> float | None:
    return None if not values else statistics.median(values) * 1000


def fmt(value: float | None) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:,.1f}"


def table(n: int, results: dict[str, dict[str, Any] | None]) -> str:
    lite, pg, mlf = results.get("sqlite"), results.get("postgresql"), results.get("mlflow")
    lines = [
        f"Analysis benchmark: {n:,} runs (20 config values, 5 metrics, 3 tags each); "
        "median ms",
        "",
        "| query | Picidae SQLite | Picidae PostgreSQL | MLflow (SQLite) | MLflow ÷ Picidae "
        "SQLite | target |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for key, label, target in (
            ("q1", f"`where {WHERE} order by {ORDER} limit 50`", "< 50 ms; ≥ 20× MLflow"),
            ("q2", "page 1, newest first (limit 50)", "< 20 ms")):
        a = ms(lite[key]) if lite else None
        b = ms(pg[key]) if pg else None
        c = ms(mlf[key]) if mlf else None
        ratio = f"{c / a:,.0f}×" if a and c else "-"
        lines.append(f"| {label} | {fmt(a)} | {fmt(b)} | {fmt(c)} | {ratio} | {target} |")
    lines.append("")
    fills = ", ".join(f"{name} {res['fill_s']:.0f} s" for name, res in results.items() if res)
    count = lite["count"] if lite else pg["count"] if pg else None
    lines.append(f"Matching runs for the filter: {count:,}. Filling the stores took: {fills}."
                 if count is not None else f"Filling the stores took: {fills}.")
    lines.append(f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python "
                 f"{platform.python_version()}" + (f", MLflow {mlf['version']}" if mlf else ""))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--no-mlflow", action="store_true")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--mlflow-worker", metavar="FOLDER", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.mlflow_worker:
        mlflow_worker(args.mlflow_worker, args.runs, args.repeat)
        return
    sys.path.insert(0, str(ROOT / "src"))
    results: dict[str, dict[str, Any] | None] = {}
    tmp = Path(tempfile.mkdtemp(prefix="picidae-bench-"))
    try:
        progress("Picidae on SQLite")
        results["sqlite"] = bench_picidae(str(tmp / "store"), args.runs, args.repeat)
        if not args.no_postgres:
            progress("Picidae on PostgreSQL")
            url, drop = pg_scratch(os.environ.get("PICIDAE_TEST_PG") or PG_DEFAULT)
            try:
                results["postgresql"] = bench_picidae(url, args.runs, args.repeat)
            finally:
                drop()
        if not args.no_mlflow:
            progress("MLflow on SQLite (in .venv-bench)")
            (tmp / "mlflow").mkdir()
            results["mlflow"] = bench_mlflow(args.runs, args.repeat, tmp / "mlflow")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(table(args.runs, results))


if __name__ == "__main__":
    main()
