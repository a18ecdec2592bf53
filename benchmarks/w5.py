"""W5 in detail (issue 17): reading series back as Points and as NumPy, against the floor of
building the same Points from plain Python lists, and bytes per stored point; alone, the trade
of compressing metric chunks (W1 write and W5 read with and without it).

    PYTHONPATH=src python benchmarks/w5.py [--quick] [--repeat N] [--markdown]   # the trade
    PYTHONPATH=src python benchmarks/w5.py --rows [--quick] [--repeat N]   # the W5 rows alone
    (--cpu: process CPU time instead of the wall clock, for a loaded machine)

``ledger.py`` imports ``measure`` and ``storage`` for its W5 and storage rows; ``bash
benchmarks/run`` also runs this script alone (for the codec trade). Every comparison runs
interleaved in one process (the same garbage collector, the same machine load) and reports
the median.
"""

from __future__ import annotations

import argparse
import gc
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from itertools import repeat
from pathlib import Path
from typing import Any

perf = time.perf_counter

#: What ``measure`` times, in the order it interleaves them.
W5_ROWS = ("read", "iterate", "points", "floor_points", "floor_tuples", "numpy")
#: Also kept: the part of these rows' time spent in the garbage collector.
GC_ROWS = ("gc_points", "gc_floor_points")


def measure(pc: Any, folder: Path, run_id: str, keys: list[str], reps: int,
            progress: Callable[[str], None] = lambda s: None) -> dict[str, list[float]]:
    """Seconds per repetition of, interleaved: W5 (``get_run`` then ``metrics(key)`` per
    key: ``read``), the same iterating every ``Point`` (``iterate``: a ``for`` loop that
    keeps none) and holding every ``Point`` (``points``), the same Points built from
    plain lists already in memory (``floor_points``: the floor), plain tuples from those lists
    (``floor_tuples``) and W5 as NumPy arrays (``numpy``, when NumPy is installed)."""
    from picidae.core.run import Point

    view = pc.get_run(run_id, store=folder)
    plain = []
    for key in keys:
        s = view.metrics(key)
        plain.append((list(s.steps), list(s.values), list(s.times), list(s.stages)))
    n_points = sum(len(cols[0]) for cols in plain)
    new = tuple.__new__

    def read(points: bool, keep: bool = True) -> float:
        t0 = perf()
        v = pc.get_run(run_id, store=folder)
        series = [v.metrics(k) for k in keys]
        got: list[Any] = series
        if points and keep:
            got = [list(s) for s in series]
        elif points:
            n = 0
            for s in series:
                for _ in s:
                    n += 1
            assert n == n_points
        n = sum(map(len, got))
        elapsed = perf() - t0
        assert n == n_points, n
        return elapsed

    def floor_points() -> float:  # the fastest way to make these Points from lists
        t0 = perf()
        got = [list(map(new, repeat(Point), zip(*cols, strict=True))) for cols in plain]
        n = sum(map(len, got))
        elapsed = perf() - t0
        assert n == n_points
        return elapsed

    def floor_tuples() -> float:
        t0 = perf()
        got = [list(zip(*cols, strict=True)) for cols in plain]
        n = sum(map(len, got))
        elapsed = perf() - t0
        assert n == n_points
        return elapsed

    def numpy() -> float:
        t0 = perf()
        v = pc.get_run(run_id, store=folder)
        got = [v.metrics(k).to_numpy() for k in keys]
        n = sum(len(cols["values"]) for cols in got)
        elapsed = perf() - t0
        assert n == n_points
        return elapsed

    try:
        import numpy as _  # noqa: F401
        has_numpy = True
    except ImportError:
        has_numpy = False
    fns: dict[str, Callable[[], float]] = {
        "read": lambda: read(False), "iterate": lambda: read(True, keep=False),
        "points": lambda: read(True),
        "floor_points": floor_points, "floor_tuples": floor_tuples, "numpy": numpy}
    out: dict[str, list[float]] = {name: [] for name in (*W5_ROWS, *GC_ROWS)}
    in_gc = [0.0, 0.0]  # seconds in the garbage collector, when it started

    def on_gc(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            in_gc[1] = perf()
        else:
            in_gc[0] += perf() - in_gc[1]

    gc.callbacks.append(on_gc)
    try:
        for i in range(reps):
            progress(f"W5 interleaved {i + 1}/{reps}")
            for name in W5_ROWS:
                if name == "numpy" and not has_numpy:
                    continue
                gc.collect()
                in_gc[0] = 0.0
                out[name].append(fns[name]())
                if f"gc_{name}" in out:
                    out[f"gc_{name}"].append(in_gc[0])
    finally:
        gc.callbacks.remove(on_gc)
    return out


def storage(folder: Path) -> tuple[int, int, int]:
    """``(points, metric chunk bytes, database file bytes)`` of the store in ``folder``
    (the file after a WAL checkpoint, so it holds everything written)."""
    db = sqlite3.connect(folder / "picidae.db")
    try:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        points, blob = db.execute(
            "SELECT coalesce(sum(n), 0), coalesce(sum(length(steps) + length(vals) "
            "+ length(times)), 0) FROM metric_chunks").fetchone()
    finally:
        db.close()
    return points, blob, (folder / "picidae.db").stat().st_size


def ledger_rows(pc: Any, folder: Path, run_id: str, keys: list[str], points: int,
                reps: int, make: Callable[..., Any],
                progress: Callable[[str], None]) -> tuple[list[Any], list[Any]]:
    """The ledger's W5 rows (``make``: its ``Result``) and targets: W1's series (``keys`` of
    ``run_id``), and one series of ``points`` points in a run of its own (the issue's "a
    100,000-point series"), each as read, with every Point, as NumPy and against the floor;
    then bytes per stored point of W1's store."""
    rows: list[Any] = []
    n, blob, file = storage(folder)  # before W5b's run joins the store
    targets: list[tuple[str, str, bool | None]] = [
        ("storage: metric chunk bytes per point (W1's store)",
         f"{blob / n:.2f} B (raw arrays: 24)", None),
        ("storage: SQLite file bytes per point (W1's store)", f"{file / n:.2f} B", None)]
    run = pc.init("bench/w5-one-series", store=folder, system_metrics=False)
    for step in range(points):
        run.log(x=1.0 / (step + 1))
    run.finish()
    for label, rid, ks in ((f"W5 ({len(keys)} series)", run_id, keys),
                           (f"W5b (one {points:,}-point series)", run.id, ["x"])):
        got = measure(pc, folder, rid, ks, reps, progress)
        names = {"read": f"{label}: read via RunView.metrics",
                 "iterate": f"{label}: read + iterate every Point (a for loop)",
                 "points": f"{label}: read + hold every Point",
                 "floor_points": f"floor: {label}'s Points built from plain lists",
                 "floor_tuples": f"floor: {label}'s plain tuples from plain lists (zip)",
                 "numpy": f"{label}: read as NumPy (to_numpy)"}
        for name in W5_ROWS:
            row = make(names[name], points, "points")
            row.picidae = got[name]
            rows.append(row)
        med = {k: statistics.median(v) for k, v in got.items() if v}
        ms = {k: f"{v * 1000:.1f} ms" for k, v in med.items()}
        targets.append((f"{label} + iterate every Point < 20 ms", ms["iterate"],
                        med["iterate"] < 0.020))
        targets.append((f"{label} + hold every Point < 20 ms",
                        f"{ms['points']} (in the collector: {ms['gc_points']})",
                        med["points"] < 0.020))
        ratio = med["points"] / med["floor_points"]
        targets.append((f"{label} + hold every Point within 2× of the same Points from lists",
                        f"{ratio:.2f}× ({ms['points']} vs {ms['floor_points']}, of which "
                        f"collector {ms['gc_floor_points']}; plain tuples "
                        f"{ms['floor_tuples']})", ratio <= 2))
        ratio = med["iterate"] / med["floor_tuples"]
        targets.append((f"{label} + iterate every Point within 2× of plain tuples from lists",
                        f"{ratio:.2f}× ({ms['iterate']} vs {ms['floor_tuples']})", ratio <= 2))
        if "numpy" in med:
            targets.append((f"{label} as NumPy arrays < 5 ms", ms["numpy"],
                            med["numpy"] < 0.005))
    return rows, targets


# -- alone: the codec trade ------------------------------------------------------------------

POLICIES = {
    "raw arrays (before issue 17)": (0, False),
    "steps as runs, values and times raw": (1, False),
    "steps as runs, zlib where it pays": (1, True),
}


def _w1(pc: Any, root: Path, steps: int, keys: list[str]) -> tuple[float, Path, str]:
    folder = Path(tempfile.mkdtemp(dir=root))
    pc.runs(store=folder, limit=1)  # created and migrated before the clock starts
    rows = [{k: 1.0 / (i + 1) + j for j, k in enumerate(keys)} for i in range(steps)]
    t0 = perf()
    run = pc.init("bench/w1", store=folder, system_metrics=False)
    for row in rows:
        run.log(**row)
    run.finish()
    run.flush()  # written, not only handed over (a new run's end may wait: deferred.py)
    return perf() - t0, folder, run.id


def trade(steps: int, reps: int, markdown: bool) -> str:
    """W1 write, W5 read and bytes per point under each chunk policy, interleaved."""
    import picidae as pc
    from picidae.store.registry import close_all
    from picidae.store.sql import codec

    keys = [f"metric_{j}" for j in range(10)]
    root = Path(tempfile.mkdtemp(prefix="picidae-codec-"))
    times: dict[str, dict[str, list[float]]] = {p: {"w1": [], "read": [], "points": []}
                                                for p in POLICIES}
    sizes: dict[str, tuple[int, int, int]] = {}
    try:
        for i in range(reps):
            print(f"  … codec trade {i + 1}/{reps}", file=sys.stderr, flush=True)
            for name, (write_codec, compress) in POLICIES.items():
                codec.WRITE_CODEC, codec.COMPRESS = write_codec, compress
                gc.collect()
                w1, folder, run_id = _w1(pc, root, steps, keys)
                got = measure(pc, folder, run_id, keys, 1)
                times[name]["w1"].append(w1)
                times[name]["read"] += got["read"]
                times[name]["points"] += got["points"]
                sizes[name] = storage(folder)
                close_all()
    finally:
        codec.WRITE_CODEC, codec.COMPRESS = codec.TAGGED, True
        import shutil

        shutil.rmtree(root, ignore_errors=True)
    head = ["chunk policy", "W1 init → finish", "W5 read", "W5 + every Point",
            "chunk bytes / point", "file bytes / point"]
    body = []
    for name in POLICIES:
        pts, blob, file = sizes[name]
        body.append([name, *(f"{statistics.median(times[name][k]) * 1000:.1f} ms"
                             for k in ("w1", "read", "points")),
                     f"{blob / pts:.2f}", f"{file / pts:.2f}"])
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    lines = [f"{steps:,} steps × 10 keys, median of {reps}, load average now {load}"]
    if markdown:
        lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(row) + " |" for row in body]
    else:
        widths = [max(len(r[i]) for r in [head, *body]) for i in range(len(head))]
        lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True))
                  for r in [head, *body]]
    return "\n".join(lines)


def rows_alone(steps: int, reps: int) -> str:
    """The ledger's W5 and storage rows without the rest of the ledger (W1 written once)."""
    import picidae as pc

    keys = [f"metric_{j}" for j in range(10)]
    root = Path(tempfile.mkdtemp(prefix="picidae-w5-"))
    try:
        _, folder, run_id = _w1(pc, root, steps, keys)

        class Row:
            def __init__(self, name: str, work: float, unit: str) -> None:
                self.name, self.picidae = name, []

        rows, targets = ledger_rows(pc, folder, run_id, keys, steps * len(keys), reps, Row,
                                    lambda s: None)
    finally:
        import shutil

        shutil.rmtree(root, ignore_errors=True)
    out = ["| row | median | min |", "|---|---|---|"]
    out += [f"| {r.name} | {statistics.median(r.picidae) * 1000:.1f} ms | "
            f"{min(r.picidae) * 1000:.1f} ms |" for r in rows if r.picidae]
    out += ["", "| target | measured | result |", "|---|---|---|"]
    out += [f"| {t} | {m} | {'—' if ok is None else ('pass' if ok else 'MISS')} |"
            for t, m, ok in targets]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="1,000 steps instead of 10,000")
    ap.add_argument("--repeat", type=int, default=5, help="repetitions (median reported)")
    ap.add_argument("--markdown", action="store_true", help="a Markdown table")
    ap.add_argument("--rows", action="store_true", help="the ledger's W5 and storage rows "
                    "alone (W1 written once), instead of the codec trade")
    ap.add_argument("--cpu", action="store_true", help="time with the process's CPU time "
                    "(all its threads) instead of the wall clock: on a loaded machine, the "
                    "nearest to a measurement at rest (waiting for a core is left out)")
    args, _ = ap.parse_known_args(argv)  # benchmarks/run passes ledger.py's options too
    if args.cpu:
        global perf
        perf = time.process_time
    steps, reps = 1_000 if args.quick else 10_000, max(1, args.repeat)
    print(rows_alone(steps, reps) if args.rows else trade(steps, reps, args.markdown))
    return 0


if __name__ == "__main__":
    sys.exit(main())
