"""W2's committer alone: what writing a batch of waiting short runs costs per run (issue 17).

    python benchmarks/w2_commit.py                  # batches of 200 and 1,000 runs, 5 rounds
    python benchmarks/w2_commit.py --runs 500 --rounds 3

Each round makes a batch of W2's runs (``init`` with 20 config values and 3 tags, ``log`` of 5
finals, ``finish``) with the committer held off (a delay of 1,000 s, no size limit), then
times ``flush()``: one transaction writing the whole batch (``store/sql/whole_runs.py``).
Printed per batch size, medians: the flush per run and, of it, the garbage collector's time.
Two costs land in a big batch without being per-run work: a full collection (~40 ms, about
once per 1,000 waiting runs, whose objects trigger it) and SQLite's WAL checkpoint once the
log passes 1,000 pages (~4 MB; ~0.02 ms a run in a batch of 1,000, none in one of 200).
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

perf = time.perf_counter


class _GcClock:
    """Seconds the garbage collector ran while ``on``."""

    def __init__(self) -> None:
        self.on, self.spent, self._start = False, 0.0, 0.0
        gc.callbacks.append(self._tick)

    def _tick(self, phase: str, _info: dict[str, int]) -> None:
        if not self.on:
            return
        if phase == "start":
            self._start = perf()
        else:
            self.spent += perf() - self._start


def main(argv: list[str] | None = None) -> int:
    sys.path.insert(0, str(Path(__file__).parent))
    os.environ["PICIDAE_NEW_RUN_DELAY_S"] = "1000"  # the committer waits for flush()
    import ledger  # beside this script: the workload's data

    import picidae
    from picidae.store.sql import deferred

    deferred.MAX_WAITING = 10**9  # one batch, however large
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, action="append", help="batch size (repeatable)")
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args(argv)
    sizes = args.runs or [200, 1000]
    clock = _GcClock()
    loads = [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory(prefix="picidae-w2c-") as tmp:
        results: dict[int, list[tuple[float, float]]] = {n: [] for n in sizes}
        for r in range(args.rounds):
            for n in sizes:
                folder = Path(tmp) / f"{n}-{r}"
                picidae.runs(store=folder, limit=1)  # created and migrated first
                run = None
                for i, (config, finals) in enumerate(ledger.w2_runs(ledger.Sizes(runs=n))):
                    run = picidae.init(f"bench/w2c/run-{i}", store=folder, config=config,
                                       tags=ledger.W2_TAGS)
                    run.log(**finals)
                    run.finish()
                assert run is not None
                clock.on, clock.spent = True, 0.0
                t0 = perf()
                run.flush()
                wall = perf() - t0
                clock.on = False
                results[n].append((wall / n, clock.spent / n))
            loads.append(os.getloadavg()[0])
    print(f"W2 committer, {args.rounds} rounds (median), load average "
          f"{min(loads):.2f}–{max(loads):.2f}")
    for n, rows in results.items():
        per_run = statistics.median(w for w, _ in rows)
        collecting = statistics.median(g for _, g in rows)
        print(f"  batch of {n:>5,} runs: flush {per_run * 1e3:.3f} ms/run, of which the "
              f"garbage collector {collecting * 1e3:.3f}  (each round: "
              f"{', '.join(f'{w * 1e3:.3f}' for w, _ in rows)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
