"""W1 (one run logging 10,000 steps × 10 keys) beside its do-nothing floor, in one process
(issue 17: W1 within 2× of the floor).

    python benchmarks/w1_floor.py               # 10,000 steps, 11 rounds
    python benchmarks/w1_floor.py --quick       # 1,000 steps, 5 rounds

W1 is ``picidae.init("bench/w1")``, 10,000 × ``run.log(**10 floats)``, ``run.finish()`` on a
fresh embedded SQLite store (created and migrated before the clock starts), as in
``ledger.py``. The floor is the same loop calling a ``log`` that returns at once
(``ledger.floor_loop``). Each round times the floor, then W1, so the machine's drift hits
both alike; W1 is split into ``init``, the ``log`` loop and ``finish`` (the final flush
included). Two clocks: the wall clock (what the target is about) and the process's CPU time
(every thread), which a loaded machine inflates far less — on a shared machine the CPU
ratio is the one to compare between runs. Medians are printed with the load average.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import ledger  # benchmarks/ledger.py, beside this script

PHASES = ("floor", "W1", "init", "loop", "finish")


def one_round(pc: Any, rows: list[dict[str, float]], folder: Path,
              ) -> dict[str, tuple[float, float]]:
    """(wall, cpu) seconds of the floor and of W1's phases."""
    wall, cpu = time.perf_counter, time.process_time
    out: dict[str, tuple[float, float]] = {}
    gc.collect()
    c0 = cpu()
    out["floor"] = (ledger.floor_loop(rows), cpu() - c0)
    pc.runs(store=folder, limit=1)  # created and migrated before the clock starts
    gc.collect()
    t0, c0 = wall(), cpu()
    run = pc.init("bench/w1", store=folder)
    t1, c1 = wall(), cpu()
    for row in rows:
        run.log(**row)
    t2, c2 = wall(), cpu()
    run.finish()
    run.flush()  # written, not only handed over (a new run's end may wait: deferred.py)
    t3, c3 = wall(), cpu()
    out["W1"] = (t3 - t0, c3 - c0)
    out["init"] = (t1 - t0, c1 - c0)
    out["loop"] = (t2 - t1, c2 - c1)
    out["finish"] = (t3 - t2, c3 - c2)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="1,000 steps, 5 rounds")
    ap.add_argument("--rounds", type=int, help="rounds (default 11, --quick 5)")
    ap.add_argument("--json", type=Path, help="also write the raw timings to this file")
    args = ap.parse_args(argv)
    sizes = ledger.QUICK if args.quick else ledger.FULL
    rounds = args.rounds or (5 if args.quick else 11)
    import picidae

    rows = ledger.w1_rows(sizes)
    load_start = os.getloadavg()
    raw: dict[str, list[tuple[float, float]]] = {p: [] for p in PHASES}
    with tempfile.TemporaryDirectory(prefix="picidae-w1-") as tmp:
        for i in range(rounds):
            print(f"  … round {i + 1}/{rounds}", file=sys.stderr, flush=True)
            for phase, value in one_round(picidae, rows, Path(tmp) / f"s{i}").items():
                raw[phase].append(value)
    load_end = os.getloadavg()
    med = {p: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v))
           for p, v in raw.items()}
    print(f"W1 beside the do-nothing floor: {sizes.steps:,} steps × {sizes.keys} keys, "
          f"median of {rounds} rounds; load average {load_start[0]:.2f} at the start, "
          f"{load_end[0]:.2f} at the end")
    print()
    print("| phase | wall | CPU (all threads) |")
    print("|---|---|---|")
    for phase in PHASES:
        wall, cpu = med[phase]
        print(f"| {phase} | {wall * 1e3:.1f} ms | {cpu * 1e3:.1f} ms |")
    fw, fc = med["floor"]
    ww, wc = med["W1"]
    print(f"| W1 ÷ floor (target ≤ 2×) | {ww / fw:.2f}× | {wc / fc:.2f}× |")
    if args.json:
        args.json.write_text(json.dumps({"rounds": rounds, "steps": sizes.steps,
                                         "keys": sizes.keys, "load": [load_start, load_end],
                                         "raw_wall_cpu_s": raw}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
