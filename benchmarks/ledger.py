"""The run-ledger benchmarks of issue 2: Picidae and MLflow on the same workloads, one table.

    bash benchmarks/run            # the full run (MLflow's part takes a few minutes)
    bash benchmarks/run --quick    # a smaller smoke run
    bash benchmarks/run --no-mlflow

Workloads (identical for both; each store is a fresh SQLite file in a temporary folder, created
and migrated before the clock starts):

- W1: one run, 10,000 steps x 10 keys, one idiomatic per-step call, timed from init to finish
  (finish includes the final flush): ``run.log(**values)`` / ``mlflow.log_metrics(values, step=i)``.
- W2: 1,000 runs, each with 20 config values, 3 tags and 5 final metrics.
- W4: one parent with 100 children, each logging 100 steps x 2 keys.
- W5: read back W1's 100,000 points (ten series of 10,000): ``get_run(id).metrics(key)`` per key;
  a second row also holds every ``Point``; a third reads them as NumPy arrays; the floor builds
  the same Points from plain lists, interleaved (``benchmarks/w5.py``). W5b: the same for one
  series of as many points. MLflow: ``MlflowClient.get_metric_history``.
- Storage: metric chunk bytes and SQLite file bytes per stored point of W1's store.
- Floors: the W1 loop calling a ``log`` that does nothing; a raw sqlite3 ``executemany`` of W1's
  100,000 rows into a bare table.
- ``import picidae`` in a fresh interpreter.
- The SIGKILL loss window (``benchmarks/sigkill.py``): a logging process killed at a random
  moment; the seconds of logging the store did not keep, by point times.

Each Picidae workload runs ``--repeat`` times (MLflow ``--mlflow-repeat`` times, it is slow) and
the median is reported.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import sigkill  # benchmarks/sigkill.py, beside this script
import w2_floor  # benchmarks/w2_floor.py: W2's raw sqlite3 floor
import w5 as w5bench  # benchmarks/w5.py, beside this script

perf = time.perf_counter


@dataclass(frozen=True)
class Sizes:
    """How big each workload is."""

    steps: int = 10_000
    keys: int = 10
    runs: int = 1_000
    children: int = 100
    child_steps: int = 100

    @property
    def points(self) -> int:
        return self.steps * self.keys


FULL = Sizes()
QUICK = Sizes(steps=1_000, runs=100, children=10)


@dataclass
class Result:
    """One row of the table: seconds per repetition, for Picidae and for MLflow."""

    name: str
    work: float  # units of work per repetition (points, runs...)
    unit: str
    picidae: list[float] = field(default_factory=list)
    mlflow: list[float] = field(default_factory=list)
    note: str = ""

    def p(self) -> float | None:
        return statistics.median(self.picidae) if self.picidae else None

    def m(self) -> float | None:
        return statistics.median(self.mlflow) if self.mlflow else None


def progress(msg: str) -> None:
    print(f"  … {msg}", file=sys.stderr, flush=True)


def repeat(label: str, times: int, fn: Callable[[int], float]) -> list[float]:
    out = []
    for i in range(times):
        progress(f"{label} {i + 1}/{times}")
        gc.collect()
        out.append(fn(i))
    return out


# -- workload data (built before any clock starts) ----------------------------------------

def w1_rows(sizes: Sizes) -> list[dict[str, float]]:
    keys = [f"metric_{j}" for j in range(sizes.keys)]
    return [{k: 1.0 / (i + 1) + j for j, k in enumerate(keys)} for i in range(sizes.steps)]


def w2_runs(sizes: Sizes) -> list[tuple[dict[str, Any], dict[str, float]]]:
    out = []
    for i in range(sizes.runs):
        config: dict[str, Any] = {"lr": 10 ** -(1 + i % 4), "batch_size": 32 * (1 + i % 8),
                                  "optimizer": ("adam", "sgd", "adamw")[i % 3], "seed": i,
                                  "dropout": 0.1 * (i % 5), "warmup": i % 2 == 0}
        for j in range(20 - len(config)):
            config[f"param_{j}"] = i * 0.5 + j
        finals = {f"final_{j}": (i * 7 + j) % 100 / 100 for j in range(5)}
        out.append((config, finals))
    return out


W2_TAGS = ["bench", "w2", "sweep"]


def w4_rows(sizes: Sizes) -> list[dict[str, float]]:
    return [{"loss": 1.0 / (s + 1), "acc": s / sizes.child_steps}
            for s in range(sizes.child_steps)]


# -- floors -------------------------------------------------------------------------------

class _Nothing:
    def log(self, data: Any = None, *, step: int | None = None, stage: str | None = None,
            **metrics: Any) -> _Nothing:
        return self


def floor_loop(rows: list[dict[str, float]]) -> float:
    run = _Nothing()
    t0 = perf()
    for row in rows:
        run.log(**row)
    return perf() - t0


def floor_sqlite(rows: list[dict[str, float]], folder: Path) -> float:
    now = time.time()
    tuples = [("run", key, step, value, now) for step, row in enumerate(rows)
              for key, value in row.items()]
    con = sqlite3.connect(folder / "floor.db", isolation_level=None)
    con.execute("PRAGMA journal_mode = WAL")
    con.execute("PRAGMA synchronous = NORMAL")
    con.execute("CREATE TABLE points (run_id TEXT, key TEXT, step INTEGER, value REAL, "
                "time REAL)")
    t0 = perf()
    con.execute("BEGIN")
    con.executemany("INSERT INTO points VALUES (?, ?, ?, ?, ?)", tuples)
    con.execute("COMMIT")
    elapsed = perf() - t0
    con.close()
    return elapsed


# -- Picidae ------------------------------------------------------------------------------

class PicidaeBench:
    def __init__(self, root: Path) -> None:
        import picidae

        self.pc = picidae
        self.root = root
        self.n = 0
        self.w1_ids: list[tuple[Path, str]] = []

    def fresh(self) -> Path:
        """A new store folder, opened (created and migrated) before any clock starts."""
        self.n += 1
        folder = self.root / f"picidae-{self.n}"
        self.pc.runs(store=folder, limit=1)
        return folder

    def w1(self, rows: list[dict[str, float]], loop_times: list[float],
           system_metrics: bool = True) -> float:
        folder = self.fresh()
        t0 = perf()
        run = self.pc.init("bench/w1", store=folder, system_metrics=system_metrics)
        t1 = perf()
        for row in rows:
            run.log(**row)
        t2 = perf()
        run.finish()
        run.flush()  # written, not only handed over (a new run's end may wait: deferred.py)
        t3 = perf()
        loop_times.append(t2 - t1)
        self.w1_ids.append((folder, run.id))
        return t3 - t0

    def w1_pair(self, rows: list[dict[str, float]], loop_times: list[float],
                off_times: list[float]) -> float:
        """W1 without system metrics (into ``off_times``), then W1 as a user runs it."""
        off_times.append(self.w1(rows, [], system_metrics=False))
        return self.w1(rows, loop_times)

    def w2(self, runs: list[tuple[dict[str, Any], dict[str, float]]],
           capture_env: bool = True) -> float:
        folder = self.fresh()
        init = self.pc.init
        t0 = perf()
        for i, (config, finals) in enumerate(runs):
            run = init(f"bench/w2/run-{i}", store=folder, config=config, tags=W2_TAGS,
                       capture_env=capture_env)
            run.log(**finals)
            run.finish()
        run.flush()  # every run written (new runs wait a moment to be written together)
        return perf() - t0

    def w4(self, sizes: Sizes, rows: list[dict[str, float]]) -> float:
        folder = self.fresh()
        t0 = perf()
        parent = self.pc.init("bench/w4", store=folder)
        for c in range(sizes.children):
            child = parent.child(kind="seed", seed=c)
            for row in rows:
                child.log(**row)
            child.finish()
        parent.finish()
        parent.flush()  # written, not only handed over
        return perf() - t0

    def check_w1(self, rows: list[dict[str, float]]) -> None:
        """Every point of the last W1 run came back, in order, with its value."""
        folder, run_id = self.w1_ids[-1]
        view = self.pc.get_run(run_id, store=folder)
        for key in rows[0]:
            series = view.metrics(key)
            assert series.steps == list(range(len(rows))), key
            assert series.values == [row[key] for row in rows], key

    def close(self) -> None:
        from picidae.store.registry import close_all

        close_all()


def import_times(times: int) -> list[float]:
    """``import picidae`` in fresh interpreters (the first, compiling bytecode, is dropped)."""
    code = ("import time; t = time.perf_counter(); import picidae; "
            "print(time.perf_counter() - t)")
    out = []
    for _ in range(times + 1):
        res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True)
        out.append(float(res.stdout.strip()))
    return out[1:]


def first_use_times(times: int) -> list[float]:
    """``import picidae`` plus resolving ``picidae.init`` (which loads the SDK and SQLAlchemy)."""
    code = ("import time; t = time.perf_counter(); import picidae; picidae.init; "
            "print(time.perf_counter() - t)")
    out = []
    for _ in range(times + 1):
        res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             check=True)
        out.append(float(res.stdout.strip()))
    return out[1:]


# -- MLflow -------------------------------------------------------------------------------

class MlflowBench:
    def __init__(self, root: Path) -> None:
        warnings.filterwarnings("ignore")
        import mlflow
        from mlflow import MlflowClient

        # MLflow configures its loggers on import; its INFO lines would break up the table.
        for name in ("mlflow", "alembic", "sqlalchemy", "git"):
            logging.getLogger(name).setLevel(logging.ERROR)

        self.mlflow = mlflow
        self.client_cls = MlflowClient
        self.root = root
        self.n = 0
        self.w1_ids: list[tuple[str, str]] = []

    def fresh(self) -> str:
        """A new tracking database with its experiment, made before any clock starts."""
        self.n += 1
        folder = self.root / f"mlflow-{self.n}"
        folder.mkdir()
        uri = f"sqlite:///{folder}/mlflow.db"
        self.mlflow.set_tracking_uri(uri)
        self.mlflow.set_experiment("bench")
        return uri

    def w1(self, rows: list[dict[str, float]]) -> float:
        mlflow = self.mlflow
        uri = self.fresh()
        t0 = perf()
        run = mlflow.start_run(run_name="bench/w1")
        for i, row in enumerate(rows):
            mlflow.log_metrics(row, step=i)
        mlflow.end_run()
        elapsed = perf() - t0
        self.w1_ids.append((uri, run.info.run_id))
        return elapsed

    def w2(self, runs: list[tuple[dict[str, Any], dict[str, float]]]) -> float:
        mlflow = self.mlflow
        self.fresh()
        tags = {f"tag{j}": t for j, t in enumerate(W2_TAGS)}
        t0 = perf()
        for i, (config, finals) in enumerate(runs):
            mlflow.start_run(run_name=f"bench/w2/run-{i}")
            mlflow.log_params(config)
            mlflow.set_tags(tags)
            mlflow.log_metrics(finals)
            mlflow.end_run()
        return perf() - t0

    def w4(self, sizes: Sizes, rows: list[dict[str, float]]) -> float:
        mlflow = self.mlflow
        self.fresh()
        t0 = perf()
        mlflow.start_run(run_name="bench/w4")
        for c in range(sizes.children):
            mlflow.start_run(run_name=f"bench/w4/seed-{c}", nested=True)
            for s, row in enumerate(rows):
                mlflow.log_metrics(row, step=s)
            mlflow.end_run()
        mlflow.end_run()
        return perf() - t0

    def w5(self, keys: list[str]) -> float:
        uri, run_id = self.w1_ids[-1]
        t0 = perf()
        client = self.client_cls(tracking_uri=uri)
        n = sum(len(client.get_metric_history(run_id, k)) for k in keys)
        elapsed = perf() - t0
        assert n > 0
        return elapsed


# -- the table ----------------------------------------------------------------------------

def fmt_s(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 1:
        return f"{seconds * 1000:.1f} ms"
    return f"{seconds:.2f} s"


def fmt_rate(work: float, seconds: float | None, unit: str) -> str:
    if seconds is None or not work:
        return "—"
    rate = work / seconds
    if rate >= 1e6:
        return f"{rate / 1e6:.2f} M {unit}/s"
    if rate >= 1e4:
        return f"{rate / 1e3:.0f} k {unit}/s"
    return f"{rate:,.0f} {unit}/s"


def machine() -> dict[str, str]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = "unknown"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                ram = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    import picidae

    info = {"date": date.today().isoformat(), "nproc": str(os.cpu_count()), "cpu": cpu,
            "ram": ram, "python": platform.python_version(),
            "sqlite": sqlite3.sqlite_version, "picidae": picidae.__version__,
            "load average at start": load}
    return info


def render(results: list[Result], targets: list[tuple[str, str, bool | None]],
           info: dict[str, str], markdown: bool) -> str:
    head = ["workload", "Picidae", "Picidae rate", "MLflow", "MLflow rate", "Picidae vs MLflow"]
    body = []
    for r in results:
        p, m = r.p(), r.m()
        ratio = f"{m / p:,.0f}× faster" if p and m else "—"
        name = r.name + (f" ({r.note})" if r.note else "")
        body.append([name, fmt_s(p), fmt_rate(r.work, p, r.unit), fmt_s(m),
                     fmt_rate(r.work, m, r.unit), ratio])
    thead = ["target", "measured", "result"]
    tbody = [[t, measured, "—" if ok is None else ("pass" if ok else "MISS")]
             for t, measured, ok in targets]
    machine_line = " · ".join(f"{k} {v}" for k, v in info.items())
    if markdown:
        return "\n".join([f"Machine: {machine_line}", "", _md(head, body), "", _md(thead, tbody)])
    try:
        from io import StringIO

        from rich.console import Console
        from rich.table import Table
    except ImportError:
        return "\n".join([machine_line, _plain(head, body), "", _plain(thead, tbody)])
    buf = StringIO()
    console = Console(file=buf, width=140, force_terminal=sys.stdout.isatty())
    console.print(machine_line)
    for h, b, title in ((head, body, "Picidae run ledger vs MLflow (median of repetitions)"),
                        (thead, tbody, "Targets (issue 2)")):
        table = Table(title=title)
        for i, col in enumerate(h):
            table.add_column(col, justify="left" if i == 0 else "right")
        for row in b:
            table.add_row(*row)
        console.print(table)
    return buf.getvalue()


def _md(head: list[str], body: list[list[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in body]
    return "\n".join(lines)


def _plain(head: list[str], body: list[list[str]]) -> str:
    widths = [max(len(str(row[i])) for row in [head, *body]) for i in range(len(head))]
    return "\n".join("  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True))
                     for row in [head, *body])


# -- main ---------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="smaller workloads (a smoke run)")
    ap.add_argument("--no-mlflow", action="store_true", help="skip MLflow")
    ap.add_argument("--repeat", type=int, default=5, help="repetitions of each Picidae "
                    "workload (median reported; default 5)")
    ap.add_argument("--mlflow-repeat", type=int, default=1, help="repetitions of MLflow's "
                    "write workloads (default 1: they take minutes); its W5 read runs --repeat")
    ap.add_argument("--markdown", action="store_true", help="print Markdown tables")
    ap.add_argument("--json", type=Path, help="also write the raw timings to this file")
    args = ap.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    reps = max(1, args.repeat)
    info = machine()
    if args.quick:
        info["sizes"] = "QUICK: smaller than the issue's workloads, targets only indicative"

    rows = w1_rows(sizes)
    keys = list(rows[0])
    runs = w2_runs(sizes)
    kid_rows = w4_rows(sizes)
    n_w4 = sizes.children * sizes.child_steps * len(kid_rows[0])

    floor = Result("floor: W1 loop, log() does nothing", sizes.points, "points")
    raw = Result("floor: raw sqlite3 executemany of W1 rows", sizes.points, "rows")
    w1 = Result("W1 one run, init → finish", sizes.points, "points")
    w1_loop = Result("W1 log() calls only", sizes.points, "points",
                     note="init and finish excluded")
    w1_nosys = Result("W1 with system_metrics=False", sizes.points, "points",
                      note="W1 samples the process by default")
    w2_raw = Result("floor: raw sqlite3, W2's two transactions per run", sizes.runs, "runs",
                    note="see benchmarks/w2_floor.py")
    w2 = Result("W2 runs with config, tags, finals", sizes.runs, "runs")
    w2_bare = Result("W2 with capture_env=False", sizes.runs, "runs",
                     note="where the capture's cost shows")
    w4 = Result("W4 parent + children", n_w4, "points",
                note=f"{sizes.children} × {sizes.child_steps} steps × 2 keys")
    imp = Result("import picidae (fresh process)", 0, "")
    first = Result("import picidae; picidae.init (loads SQLAlchemy)", 0, "")
    kill = Result("SIGKILL at a random moment: seconds of logging lost (median)", 0, "")
    results = [floor, raw, w2_raw, w1, w1_loop, w1_nosys, w2, w2_bare, w4, imp, first, kill]
    w5_targets: list[tuple[str, str, bool | None]] = []

    root = Path(tempfile.mkdtemp(prefix="picidae-bench-"))
    try:
        floor.picidae = repeat("floor: do-nothing loop", reps, lambda i: floor_loop(rows))
        raw.picidae = repeat("floor: raw executemany", reps,
                             lambda i: floor_sqlite(rows, Path(tempfile.mkdtemp(dir=root))))
        imp.picidae = import_times(max(reps, 5))
        first.picidae = first_use_times(max(reps, 5))

        pb = PicidaeBench(root)
        # With and without system metrics in turns, so the machine's drift hits both alike.
        for both in repeat("Picidae W1 (system metrics on, then off)", reps,
                           lambda i: pb.w1_pair(rows, w1_loop.picidae, w1_nosys.picidae)):
            w1.picidae.append(both)
        pb.check_w1(rows)
        w2_raw.picidae = repeat("floor: W2 raw sqlite3", reps, lambda i: w2_floor.floor_w2(
            runs, W2_TAGS, Path(tempfile.mkdtemp(dir=root)))[0])
        w2.picidae = repeat("Picidae W2", reps, lambda i: pb.w2(runs))
        w2_bare.picidae = repeat("Picidae W2, capture_env=False", reps,
                                 lambda i: pb.w2(runs, capture_env=False))
        w4.picidae = repeat("Picidae W4", reps, lambda i: pb.w4(sizes, kid_rows))
        w5_results, w5_targets = w5bench.ledger_rows(pb.pc, *pb.w1_ids[-1], keys,
                                                     sizes.points, reps, Result, progress)
        w5, w5p = w5_results[0], w5_results[1]
        results[8:8] = w5_results
        pb.close()
        progress("SIGKILL loss window")
        kill.picidae = sigkill.losses(root, max(reps, 5))

        if not args.no_mlflow:
            try:
                mb = MlflowBench(root)
            except ImportError:
                print("MLflow is not installed: pip install -e '.[bench]' (benchmarks/run "
                      "does it); skipping it", file=sys.stderr)
            else:
                info["mlflow"] = mb.mlflow.__version__
                mreps = max(1, args.mlflow_repeat)
                w1.mlflow = repeat("MLflow W1", mreps, lambda i: mb.w1(rows))
                w5.mlflow = repeat("MLflow W5", reps, lambda i: mb.w5(keys))
                w5p.mlflow = w5.mlflow
                w2.mlflow = repeat("MLflow W2", mreps, lambda i: mb.w2(runs))
                w4.mlflow = repeat("MLflow W4", mreps, lambda i: mb.w4(sizes, kid_rows))
    finally:
        shutil.rmtree(root, ignore_errors=True)

    targets = evaluate(sizes, floor, w1, w2, w5, imp) + w5_targets
    p2, f2 = w2.p(), w2_raw.p()
    assert p2 is not None and f2 is not None
    targets.insert(4, ("W2 within 3× of its raw sqlite3 floor", f"{p2 / f2:.1f}× the floor "
                       f"({fmt_s(p2)} vs {fmt_s(f2)})", p2 <= 3 * f2))
    on, off = w1.p(), w1_nosys.p()
    assert on is not None and off is not None
    targets.insert(1, ("W1 with system metrics within 10% of without",
                       f"{on / off - 1:+.1%} ({fmt_s(on)} vs {fmt_s(off)})", on <= 1.1 * off))
    worst = max(kill.picidae)
    targets.append((f"SIGKILL loses ≤ 1 s of points (worst of {len(kill.picidae)} kills)",
                    fmt_s(worst), worst <= 1.0))
    print(render(results, targets, info, args.markdown))
    if args.json:
        args.json.write_text(json.dumps({
            "machine": info, "sizes": sizes.__dict__,
            "results": [{"name": r.name, "work": r.work, "unit": r.unit, "picidae_s": r.picidae,
                         "mlflow_s": r.mlflow} for r in results],
            "targets": [{"target": t, "measured": m, "ok": ok} for t, m, ok in targets],
        }, indent=2))
    return 0


def evaluate(sizes: Sizes, floor: Result, w1: Result, w2: Result, w5: Result,
             imp: Result) -> list[tuple[str, str, bool | None]]:
    """The issue's targets as (target, measured, pass) rows."""
    out: list[tuple[str, str, bool | None]] = []
    f, p1 = floor.p(), w1.p()
    assert f is not None and p1 is not None
    out.append(("W1 within 2× of the do-nothing floor", f"{p1 / f:.1f}× the floor "
                f"({fmt_s(p1)} vs {fmt_s(f)})", p1 <= 2 * f))
    out.append(("W1 ≥ 1 M points/s (the issue's estimate of the floor)",
                fmt_rate(sizes.points, p1, "points"), sizes.points / p1 >= 1e6))
    m1 = w1.m()
    out.append(("W1 ≥ 100× MLflow", f"{m1 / p1:,.0f}×" if m1 else "not measured",
                None if m1 is None else m1 / p1 >= 100))
    p2 = w2.p()
    assert p2 is not None
    out.append(("W2 ≥ 2,000 runs/s", fmt_rate(sizes.runs, p2, "runs"), sizes.runs / p2 >= 2000))
    p5 = w5.p()
    assert p5 is not None
    out.append(("W5 (read only) < 20 ms", fmt_s(p5), p5 < 0.020))
    pi = imp.p()
    assert pi is not None
    out.append(("import picidae < 150 ms", fmt_s(pi), pi < 0.150))
    return out


if __name__ == "__main__":
    sys.exit(main())
