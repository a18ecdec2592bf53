"""A million runs: the runs query on SQLite and PostgreSQL, beside MLflow (issue 17).

    PYTHONPATH=src .venv/bin/python benchmarks/scale.py                # 1,000,000 runs
    PYTHONPATH=src .venv/bin/python benchmarks/scale.py --quick --no-postgres --no-mlflow
    … --sqlite-store DIR --pg-url URL   # keep (or reuse, when already filled) the stores

Each store is filled by ``bulk_load.py`` (the load time is reported), then each query is
timed through the SDK (``picidae.runs(...)``, records built), as the median of ``--repeat``
calls after one warm-up; each page is first checked against the loader's run specs. The
queries and their targets:

- the runs page: ``where config.lr = 0.01 and metrics.acc > 0.5``, sorted by
  ``metrics.acc desc``, limit 50: < 50 ms;
- sorted by a config key (``config.momentum``: every value distinct; ``config.lr``: four
  values, 250,000 runs tied on each) or a summary key (``summary.best_acc``), limit 50, with
  and without a filter: < 100 ms;
- reported without a target: two broad conditions matching no run (``config.optimizer =
  "adam" and config.arch = "vit"``, sorted by a metric) and a sort by a text key.

MLflow (``--mlflow-python``, default ``.venv-bench``, through a subprocess) gets the same
runs in its SQLite tracking database (``analysis.mlflow_fill``) and the same queries through
``MlflowClient.search_runs`` where it has them (params are strings; it has no summary). At
a million runs MLflow's filler and its searches take many minutes, so it is loaded with
``--mlflow-runs`` runs (default 100,000; the table says how many).

PostgreSQL is ``--pg-url``, else a scratch database on ``PICIDAE_TEST_PG`` (default
``postgresql://postgres@127.0.0.1:5432/test``), dropped afterwards.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bulk_load import fill, run_spec

from analysis import BENCH_PYTHON, PG_DEFAULT, pg_scratch, progress

perf = time.perf_counter
ROOT = Path(__file__).resolve().parent.parent

#: (label, where, order_by, target ms or None, MLflow filter, MLflow order or None: no form)
QUERIES: list[tuple[str, str | None, str, float | None, str, str | None]] = [
    ("runs page: config + metric filter, metric sort", "config.lr = 0.01 and metrics.acc > 0.5",
     "metrics.acc desc", 50, "params.lr = '0.01' and metrics.acc > 0.5", "metrics.acc DESC"),
    ("sort by config (distinct values)", None, "config.momentum desc", 100, "",
     "params.momentum DESC"),
    ("sort by config (4 values, long ties)", None, "config.lr desc", 100, "", "params.lr DESC"),
    ("sort by summary", None, "summary.best_acc desc", 100, "", None),
    ("filter + sort by config", 'status = "completed" and tags contains "gpu"',
     "config.batch_size asc", 100, "attributes.status = 'FINISHED' and tags.gpu = ''",
     "params.batch_size ASC"),
    ("filter + sort by summary", "config.lr = 0.001", "summary.final_loss asc", 100,
     "params.lr = '0.001'", None),
    ("two broad conditions, no match", 'config.optimizer = "adam" and config.arch = "vit"',
     "metrics.f1 desc", None, "params.optimizer = 'adam' and params.arch = 'vit'",
     "metrics.f1 DESC"),
    ("sort by a text config key", None, "config.optimizer asc", None, "",
     "params.optimizer ASC"),
]


def timed(fn: Any, repeat: int, cpu: list[float] | None = None) -> list[float]:
    """Wall times of ``repeat`` calls after a warm-up; this process's CPU times go to ``cpu``
    (for SQLite, all of the query's work: a figure the machine's other load barely moves)."""
    fn()  # warm-up
    out = []
    for _ in range(repeat):
        t, c = perf(), time.process_time()
        fn()
        out.append(perf() - t)
        if cpu is not None:
            cpu.append(time.process_time() - c)
    return out


def _count(store: Any) -> int:
    from sqlalchemy import func, select

    from picidae.store.sql.tables import runs

    with store._tx() as conn:
        return int(conn.execute(select(func.count()).select_from(runs)).scalar_one())


def _check(views: list[Any], where: str | None, order: str, n: int) -> None:
    """The page's runs match and are in order (against the loader's specs)."""
    from picidae.core.where import evaluate

    specs = [{**run_spec(int(v.seed), n), "seed": v.seed} for v in views]
    assert all(where is None or evaluate(where, s) for s in specs), where
    field, _, desc = order.partition(" ")
    section, _, key = field.partition(".")
    values = [s["metrics"].get(key) if section == "metrics" else s[section].get(key)
              for s in specs]
    present = [v for v in values if v is not None]
    assert present == sorted(present, reverse=desc == "desc"), order


def bench_picidae(url: str, n: int, repeat: int) -> dict[str, Any]:
    import picidae
    from picidae.store.registry import open_store

    t = perf()
    store = open_store(url)  # migrates a store loaded by an older Picidae
    opened = perf() - t
    have = _count(store)
    if have == 0:
        load_s: float | None = fill(store, n)
    elif have == n:
        progress(f"{url} holds {n:,} runs already: not loading")
        load_s = None
    else:
        raise SystemExit(f"{url} holds {have:,} runs, not {n:,}: use an empty store")
    out: dict[str, Any] = {"load_s": load_s, "open_s": opened, "times": {}, "cpu": {}}
    for label, where, order, *_ in QUERIES:
        def page(where: str | None = where, order: str = order) -> list[Any]:
            return picidae.runs(store=url, where=where, order_by=order, limit=50)

        found = page()
        _check(found, where, order, n)
        out["times"][label] = timed(page, repeat, out["cpu"].setdefault(label, []))
        progress(f"{label}: {statistics.median(out['times'][label]) * 1000:,.1f} ms "
                 f"(CPU {statistics.median(out['cpu'][label]) * 1000:,.1f} ms)")
    return out


def mlflow_worker(folder: str, n: int, repeat: int) -> None:
    """Fill MLflow's store and time the queries it can run; print JSON (in .venv-bench)."""
    from analysis import mlflow_fill

    client, exp, fill_s = mlflow_fill(folder, n)
    times = {}
    for label, _, _, _, flt, order in QUERIES:
        if order is None:
            continue
        times[label] = timed(lambda flt=flt, order=order: list(client.search_runs(
            [exp], flt, order_by=[order], max_results=50)), repeat)
    print(json.dumps({"load_s": fill_s, "times": times,
                      "version": __import__("mlflow").__version__}))


def bench_mlflow(python: Path, n: int, repeat: int, folder: Path) -> dict[str, Any] | None:
    if not python.exists():
        progress(f"no {python}: skipping MLflow (bash benchmarks/run creates .venv-bench)")
        return None
    proc = subprocess.run([str(python), __file__, "--mlflow-worker", str(folder),
                           "--mlflow-runs", str(n), "--repeat", str(repeat)],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"the MLflow worker failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def _ms(res: dict[str, Any] | None, label: str, kind: str = "times") -> float | None:
    times = res[kind].get(label) if res else None
    return statistics.median(times) * 1000 if times else None


def _fmt(value: float | None) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:,.1f}"


def table(n: int, lite: dict[str, Any] | None, pg: dict[str, Any] | None,
          mlf: dict[str, Any] | None, mlflow_n: int) -> str:
    lines = [f"A million runs (issue 17): {n:,} runs; median ms of picidae.runs(..., limit=50) "
             "(SQLite: wall, and this process's CPU)",
             "", f"| query | target | Picidae SQLite | SQLite CPU | Picidae PostgreSQL | "
             f"MLflow SQLite ({mlflow_n:,} runs) | met |", "|---|---|---:|---:|---:|---:|---|"]
    for label, where, order, target, _, mlflow_order in QUERIES:
        a, b = _ms(lite, label), _ms(pg, label)
        c = _ms(mlf, label) if mlflow_order else None
        got = [v for v in (a, b) if v is not None]
        met = "-" if target is None or not got else \
            "met" if all(v < target for v in got) else "**missed**"
        what = f"{label}: `{f'where {where} ' if where else ''}order by {order}`"
        lines.append(f"| {what} | {f'< {target:.0f} ms' if target else '-'} | {_fmt(a)} | "
                     f"{_fmt(_ms(lite, label, 'cpu'))} | {_fmt(b)} | "
                     f"{_fmt(c) if mlflow_order else 'no form'} | {met} |")
    lines.append("")
    for name, res in (("SQLite", lite), ("PostgreSQL", pg), (f"MLflow ({mlflow_n:,})", mlf)):
        if res and res.get("load_s") is not None:
            lines.append(f"Load {name}: {res['load_s']:,.0f} s "
                         f"({(mlflow_n if 'MLflow' in name else n) / res['load_s']:,.0f} runs/s)")
    lines.append(f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, Python "
                 f"{platform.python_version()}, SQLite {sqlite3.sqlite_version}, load average "
                 f"{os.getloadavg()[0]:.1f}" + (f", MLflow {mlf['version']}" if mlf else ""))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=None, help="default 1,000,000")
    parser.add_argument("--quick", action="store_true", help="20,000 runs, MLflow at 5,000")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-mlflow", action="store_true")
    parser.add_argument("--mlflow-runs", type=int, default=None, help="default 100,000")
    parser.add_argument("--mlflow-python", type=Path, default=BENCH_PYTHON)
    parser.add_argument("--sqlite-store", type=Path, help="a folder to fill (or reuse); kept")
    parser.add_argument("--pg-url", help="a database to fill (or reuse); kept")
    parser.add_argument("--mlflow-worker", metavar="FOLDER", help=argparse.SUPPRESS)
    args, _ = parser.parse_known_args()  # benchmarks/run passes the ledger's options too
    n = args.runs or (20_000 if args.quick else 1_000_000)
    mlflow_n = args.mlflow_runs or min(n, 5_000 if args.quick else 100_000)
    if args.mlflow_worker:
        mlflow_worker(args.mlflow_worker, mlflow_n, args.repeat)
        return
    sys.path.insert(0, str(ROOT / "src"))
    tmp = Path(tempfile.mkdtemp(prefix="picidae-scale-"))
    lite = pg = mlf = None
    try:
        progress(f"Picidae on SQLite, {n:,} runs")
        lite = bench_picidae(str(args.sqlite_store or tmp / "store"), n, args.repeat)
        if not args.no_postgres:
            progress(f"Picidae on PostgreSQL, {n:,} runs")
            if args.pg_url:
                pg = bench_picidae(args.pg_url, n, args.repeat)
            else:
                url, drop = pg_scratch(os.environ.get("PICIDAE_TEST_PG") or PG_DEFAULT)
                try:
                    pg = bench_picidae(url, n, args.repeat)
                finally:
                    drop()
        if not args.no_mlflow:
            progress(f"MLflow on SQLite, {mlflow_n:,} runs")
            (tmp / "mlflow").mkdir()
            mlf = bench_mlflow(args.mlflow_python, mlflow_n, args.repeat, tmp / "mlflow")
    finally:
        from picidae.store import registry

        registry.close_all()
        shutil.rmtree(tmp, ignore_errors=True)
    print(table(n, lite, pg, mlf, mlflow_n))


if __name__ == "__main__":
    main()
