"""W2 (creating and finishing runs) beside its raw ``sqlite3`` floor, in one process (issue 17).

    python benchmarks/w2_floor.py               # 1,000 runs, 5 rounds
    python benchmarks/w2_floor.py --quick       # 200 runs, 3 rounds

W2 is 1,000 × ``picidae.init(name, config=20 values, tags=3)``, ``run.log(**5 finals)``,
``run.finish()`` on the embedded SQLite store, then ``run.flush()``: the clock stops when every
run is written (new runs wait a moment to be written together: ``store/sql/deferred.py``).
The floor does the same two transactions per run with the plain ``sqlite3`` module and
nothing else (``floor_w2``):

- a fresh database file, WAL, ``synchronous=NORMAL`` (as the store), autocommit driver with
  explicit ``BEGIN IMMEDIATE``/``COMMIT``;
- tables ``runs`` (id primary key, name, status, created_at, started_at, ended_at, data),
  ``transitions`` (run_id, from, to, at, reason, actor) and ``metrics`` (run_id, key, step,
  value, time);
- per run, transaction 1: insert the run row (a new uuid4 id; ``data`` the JSON of its config
  and tags) and its first transition (``queued → running``); transaction 2: insert the 5
  finals (``executemany``), set the row ``completed`` with its end time, insert the terminal
  transition.

Each round times the floor, W2 with environment capture on (as a user has it) and W2 with
``capture_env=False``, in turns, so the machine's drift hits all three alike; the medians are
printed with the load average. ``ledger.py`` reports the floor as a row of its table too.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

perf = time.perf_counter

_SCHEMA = (
    "CREATE TABLE runs (id TEXT PRIMARY KEY, name TEXT NOT NULL, status TEXT NOT NULL, "
    "created_at REAL NOT NULL, started_at REAL, ended_at REAL, data TEXT NOT NULL)",
    "CREATE TABLE transitions (id INTEGER PRIMARY KEY, run_id TEXT NOT NULL, "
    "from_state TEXT, to_state TEXT NOT NULL, at REAL NOT NULL, reason TEXT, actor TEXT)",
    "CREATE TABLE metrics (run_id TEXT NOT NULL, key TEXT NOT NULL, step INTEGER, "
    "value REAL, time REAL)",
)


def floor_w2(runs: list[tuple[dict[str, Any], dict[str, float]]], tags: list[str],
             folder: Path) -> tuple[float, float]:
    """Seconds (wall, and this process's CPU) for W2's two transactions per run through plain
    ``sqlite3`` (see the module docstring); the database is created before the clock starts."""
    con = sqlite3.connect(folder / "w2-floor.db", isolation_level=None)
    con.execute("PRAGMA journal_mode = WAL")
    con.execute("PRAGMA synchronous = NORMAL")
    for stmt in _SCHEMA:
        con.execute(stmt)
    t0, c0 = perf(), time.process_time()
    for i, (config, finals) in enumerate(runs):
        run_id = uuid.uuid4().hex
        now = time.time()
        con.execute("BEGIN IMMEDIATE")
        con.execute("INSERT INTO runs VALUES (?, ?, 'running', ?, ?, NULL, ?)",
                    (run_id, f"floor/w2/run-{i}", now, now,
                     json.dumps({"config": config, "tags": tags})))
        con.execute("INSERT INTO transitions (run_id, from_state, to_state, at, reason, actor) "
                    "VALUES (?, 'queued', 'running', ?, 'started in-process', 'sdk')",
                    (run_id, now))
        con.execute("COMMIT")
        end = time.time()
        con.execute("BEGIN IMMEDIATE")
        con.executemany("INSERT INTO metrics VALUES (?, ?, 0, ?, ?)",
                        [(run_id, key, value, end) for key, value in finals.items()])
        con.execute("UPDATE runs SET status = 'completed', ended_at = ? WHERE id = ?",
                    (end, run_id))
        con.execute("INSERT INTO transitions (run_id, from_state, to_state, at, reason, actor) "
                    "VALUES (?, 'running', 'completed', ?, NULL, 'sdk')", (run_id, end))
        con.execute("COMMIT")
    elapsed = perf() - t0, time.process_time() - c0
    con.close()
    return elapsed


def picidae_w2(runs: list[tuple[dict[str, Any], dict[str, float]]], tags: list[str],
               folder: Path, capture_env: bool = True) -> tuple[float, float]:
    """Seconds (wall, and this process's CPU) for W2 through ``picidae`` into a store opened
    before the clock starts."""
    import picidae

    picidae.runs(store=folder, limit=1)  # created and migrated before the clock starts
    init = picidae.init
    t0, c0 = perf(), time.process_time()
    for i, (config, finals) in enumerate(runs):
        run = init(f"bench/w2/run-{i}", store=folder, config=config, tags=tags,
                   capture_env=capture_env)
        run.log(**finals)
        run.finish()
    run.flush()  # every run written (new runs wait a moment to be written together)
    return perf() - t0, time.process_time() - c0


def main(argv: list[str] | None = None) -> int:
    sys.path.insert(0, str(Path(__file__).parent))
    import ledger  # beside this script: the workload's data

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="200 runs, 3 rounds")
    ap.add_argument("--runs", type=int, help="runs per round (default 1,000)")
    ap.add_argument("--rounds", type=int, help="rounds (default 5)")
    args = ap.parse_args(argv)
    n = args.runs or (200 if args.quick else 1000)
    rounds = args.rounds or (3 if args.quick else 5)
    runs = ledger.w2_runs(ledger.Sizes(runs=n))
    tags = ledger.W2_TAGS
    times: dict[str, list[float]] = {"floor": [], "picidae": [], "picidae_bare": []}
    cpu_s: dict[str, list[float]] = {key: [] for key in times}  # this process's CPU time
    loads = [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory(prefix="picidae-w2-") as tmp:
        root = Path(tmp)
        picidae_w2(runs[:50], tags, root / "warm")  # imports, caches, the first capture
        for r in range(rounds):
            for key, (wall, cpu) in (
                    ("floor", floor_w2(runs, tags, Path(tempfile.mkdtemp(dir=root)))),
                    ("picidae", picidae_w2(runs, tags, root / f"on-{r}")),
                    ("picidae_bare", picidae_w2(runs, tags, root / f"off-{r}", False))):
                times[key].append(wall)
                cpu_s[key].append(cpu)
            loads.append(os.getloadavg()[0])
        from picidae.store.registry import close_all

        close_all()
    med = {k: statistics.median(v) for k, v in times.items()}
    cpu = {k: statistics.median(v) for k, v in cpu_s.items()}
    print(f"W2, {n} runs × {rounds} rounds (median), load average {min(loads):.2f}–"
          f"{max(loads):.2f}")
    for label, key in (("floor: raw sqlite3, two transactions per run", "floor"),
                       ("W2, capture on", "picidae"), ("W2, capture_env=False", "picidae_bare")):
        s = med[key]
        print(f"  {label:<46} {s * 1e3:8.1f} ms  {n / s:8,.0f} runs/s  "
              f"{s / med['floor']:5.2f}× the floor  CPU {cpu[key] * 1e3:7.1f} ms "
              f"({cpu[key] / cpu['floor']:5.2f}×)  "
              f"(wall: {', '.join(f'{t * 1e3:.0f}' for t in times[key])} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
