"""The server soak (issue 17): a real ``picidae server`` under steady load for minutes, watched
for memory growth, errors and lost or doubled points.

    python benchmarks/soak.py [--quick] [--minutes N] [--clients 8] [--hb-runs 50]
                              [--pg URL] [--markdown]

(``bash benchmarks/run`` runs it; ``--quick`` is about 30 s, the default 10 minutes.)

- A ``picidae server`` process over a fresh embedded store (or a fresh PostgreSQL database
  with ``--pg``), its log kept.
- ``--clients`` processes, each logging W1 (one run, 10,000 steps x 10 keys, ``run.log`` per
  step, through ``store="http://..."``) in a loop until the deadline; each names every run it
  starts, and reports any exception, and anything on its stderr (the SDK's warnings), as an
  error.
- ``--hb-runs`` running runs heartbeating through one lean client process (a keep-alive
  connection per run, as fast as the server answers: ``team.HEARTBEATS_LEAN``).
- The server's RSS (with ``psutil``) every few seconds.

Everything is bounded: the clients stop starting runs at the deadline, the heartbeats stop at
it, and whatever still runs a few minutes later is killed. At the end the server is stopped
and the store is read directly: every run a client started must hold each of its 10 keys at
steps 0..9,999 exactly once, with the values logged. The checks: **server RSS growth < 10%
from the end of warm-up (the first fifth, at most 2 minutes) to the end, no error in any client
or in the server's log, every point stored exactly once.**
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import team

#: A client process: W1 runs in a loop until the deadline (epoch seconds), one JSON line per
#: run started and per run finished, and one per error.
W1_LOOP = r"""
import json, logging, sys, time, warnings
url, deadline, tag = sys.argv[1], float(sys.argv[2]), sys.argv[5]
steps, keys = int(sys.argv[3]), int(sys.argv[4])
import picidae
rows = [{f"k{j}": (i * keys + j) * 1e-3 for j in range(keys)} for i in range(steps)]
def say(**kw):
    print(json.dumps(kw), flush=True)
def warned(message, category, *args, **kwargs):
    say(error=f"warning: {category.__name__}: {message}")
warnings.showwarning = warned
n = 0
while time.time() < deadline:
    t = time.perf_counter()
    try:
        run = picidae.init(f"soak/{tag}/{n}", store=url, capture_env=False)
        say(started=run.id)
        for row in rows:
            run.log(**row)
        run.finish()
        say(finished=run.id, elapsed=time.perf_counter() - t)
    except Exception as exc:
        say(error=f"{type(exc).__name__}: {exc}")
        time.sleep(1)
    n += 1
"""

STEPS, KEYS = 10_000, 10

#: ``--census FILE``: the server counting its Python objects by type (``gc``) after warm-up
#: (``after`` seconds) and every ``every`` seconds, appending to FILE the types that grew most
#: since warm-up and the interpreter's allocated blocks: a leak of Python objects shows as a
#: type that keeps growing. (``tracemalloc`` slows a server too much to soak.)
CENSUS_SERVER = r"""
import collections, gc, sys, threading, time
out, after, every = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
sys.argv = ["picidae", *sys.argv[4:]]
def census():
    return collections.Counter(type(o).__qualname__ for o in gc.get_objects())
def watch():
    time.sleep(after)
    first, blocks0, t0 = census(), sys.getallocatedblocks(), time.time()
    while True:
        time.sleep(every)
        now = census()
        grew = sorted(((now[k] - first.get(k, 0), k) for k in now), reverse=True)[:12]
        with open(out, "a") as f:
            f.write(f"=== {time.time() - t0:.0f} s after warm-up: {sum(now.values()):,} "
                    f"objects ({sum(now.values()) - sum(first.values()):+,}), allocated "
                    f"blocks {sys.getallocatedblocks() - blocks0:+,}\n")
            f.write("".join(f"  {n:+,} {k}\n" for n, k in grew if n > 0))
threading.Thread(target=watch, daemon=True).start()
from picidae.cli.main import main
main()
"""


def rss(pid: int) -> int:
    """Resident bytes of a process."""
    import psutil

    return int(psutil.Process(pid).memory_info().rss)


def server_process(store: str, log: Path, census: str | None = None,
                   warmup: float = 0.0) -> team.Server:
    """``picidae server`` over ``store``, its stdout and stderr in ``log`` (counting its
    objects into ``census``, when given)."""
    port = team.free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PICIDAE_")}
    out = log.open("wb")
    command = ["server", "--store", store, "--port", str(port)]
    head = ([sys.executable, "-c", CENSUS_SERVER, census, str(warmup), "30"] if census
            else [sys.executable, "-m", "picidae"])
    proc = subprocess.Popen([*head, *command], env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    team.wait_http(f"{url}/healthz", proc)
    return team.Server("picidae", "Picidae server", url, proc)


def client(url: str, deadline: float, tag: str, folder: Path) -> tuple[subprocess.Popen[bytes],
                                                                         Path, Path]:
    out, err = folder / f"{tag}.jsonl", folder / f"{tag}.stderr"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PICIDAE_")}
    env["PICIDAE_HOME"] = str(folder / f"home-{tag}")
    proc = subprocess.Popen([sys.executable, "-c", W1_LOOP, url, repr(deadline), str(STEPS),
                             str(KEYS), tag], stdout=out.open("wb"), stderr=err.open("wb"),
                            stdin=subprocess.DEVNULL, env=env)
    return proc, out, err


def check_points(store_url: str, run_ids: list[str]) -> tuple[int, list[str]]:
    """Points read back from the store, and what is wrong (missing, doubled or wrong)."""
    import numpy as np

    from picidae.store.registry import open_store

    store = open_store(store_url)
    want_steps = np.arange(STEPS)
    problems: list[str] = []
    total = 0
    try:
        for run_id in run_ids:
            for j in range(KEYS):
                series = store.metrics(run_id, f"k{j}")
                steps = np.asarray(series.steps)
                values = np.asarray(series.values)
                total += len(steps)
                if len(steps) != STEPS or not np.array_equal(np.sort(steps), want_steps):
                    problems.append(f"{run_id} k{j}: {len(steps)} points, "
                                    f"{len(np.unique(steps))} distinct steps")
                    continue
                order = np.argsort(steps)
                if not np.allclose(values[order], (want_steps * KEYS + j) * 1e-3):
                    problems.append(f"{run_id} k{j}: values differ from those logged")
    finally:
        close = getattr(store, "close", None)
        if close is not None:
            close()
    return total, problems


def soak(args: argparse.Namespace) -> dict[str, Any]:
    seconds = args.minutes * 60
    warmup = min(120.0, seconds / 5)
    work = Path(tempfile.mkdtemp(prefix="picidae-soak-"))
    cleanup = None
    if args.pg:
        store_url, cleanup = _pg_database(args.pg)
    else:
        store_url = str(work / "store")
    server = server_process(store_url, work / "server.log", args.census, warmup)
    procs: list[subprocess.Popen[Any]] = []
    try:
        hb_ids = team.running_runs(server, args.hb_runs)
        start = time.time()
        deadline = start + seconds
        clients = [client(server.url, deadline, f"c{i}", work) for i in range(args.clients)]
        procs += [c[0] for c in clients]
        hb_out = work / "heartbeats.json"
        hb = team.spawn(team.HEARTBEATS_LEAN, [server.url, str(seconds), str(hb_out), *hb_ids])
        procs.append(hb)
        team.released([hb])
        cpu0 = team.process_cpu(server.proc.pid)
        samples: list[tuple[float, int]] = []
        while time.time() < deadline:
            samples.append((time.time() - start, rss(server.proc.pid)))
            if server.proc.poll() is not None:
                raise RuntimeError(f"the server exited ({server.proc.returncode})")
            time.sleep(min(args.sample_s, max(0.0, deadline - time.time())))
        hb.communicate(timeout=120)
        for proc in procs:  # the clients finish the run they are logging, then exit
            try:
                proc.wait(timeout=max(60.0, args.grace_s))
            except subprocess.TimeoutExpired:
                proc.kill()
        wall = time.time() - start
        samples.append((wall, rss(server.proc.pid)))
        server_cpu = team.process_cpu(server.proc.pid) - cpu0
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
        server.stop()
    try:
        errors: list[str] = []
        started: list[str] = []
        finished = 0
        for proc, out, err in clients:
            for line in out.read_text().splitlines():
                rec = json.loads(line)
                if "started" in rec:
                    started.append(rec["started"])
                finished += "finished" in rec
                if "error" in rec:
                    errors.append(f"{out.stem}: {rec['error']}")
            errors += [f"{err.stem} stderr: {line}" for line in
                       err.read_text(errors="replace").splitlines() if line.strip()]
            if proc.returncode not in (0, None):
                errors.append(f"{out.stem} exited with {proc.returncode}")
        log = (work / "server.log").read_text(errors="replace").splitlines()
        errors += [f"server: {line}" for line in log
                   if any(w in line for w in ("ERROR", "Traceback", "Exception", "WARNING"))]
        beats = json.loads(hb_out.read_text()) if hb_out.exists() else {"lat": [],
                                                                         "errors": ["none"]}
        errors += [f"heartbeats: {e}" for e in beats["errors"]]
        points, problems = check_points(store_url, started)
        lat = sorted(beats["lat"])
        after = [r for t, r in samples if t >= warmup]
        at_warmup = statistics.median(after[:3]) if after else samples[0][1]
        at_end = statistics.median(after[-3:]) if after else samples[-1][1]
        return {
            "minutes": wall / 60, "clients": args.clients, "hb_runs": args.hb_runs,
            "store": "PostgreSQL" if args.pg else "SQLite", "warmup_s": warmup,
            "heartbeats": len(lat), "hb_rate": len(lat) / seconds,
            "hb_p50_ms": team.percentile(lat, 0.5), "hb_p99_ms": team.percentile(lat, 0.99),
            "runs_started": len(started), "runs_finished": finished,
            "points_logged": finished * STEPS * KEYS, "points_read": points,
            "points_rate": finished * STEPS * KEYS / wall,
            "rss_start_mb": samples[0][1] / 2**20, "rss_warmup_mb": at_warmup / 2**20,
            "rss_end_mb": at_end / 2**20, "rss_peak_mb": max(r for _, r in samples) / 2**20,
            "rss_growth": (at_end - at_warmup) / at_warmup,
            "server_cpu_s": server_cpu, "errors": errors, "problems": problems,
            "samples": samples,
        }
    finally:
        if cleanup is not None:
            cleanup()
        shutil.rmtree(work, ignore_errors=True)


def _pg_database(base: str) -> tuple[str, Any]:
    """A new database on ``base``'s PostgreSQL, and what drops it."""
    import secrets

    import psycopg
    from psycopg import sql

    name = f"picidae_soak_{secrets.token_hex(4)}"
    admin = psycopg.connect(base, autocommit=True)
    admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    from picidae.store.registry import upgrade

    url = f"{base.rpartition('/')[0]}/{name}"
    upgrade(url)

    def drop() -> None:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(name)))
        admin.close()

    return url, drop


def report(r: dict[str, Any], markdown: bool) -> str:
    rows = [
        ("duration", f"{r['minutes']:.1f} min ({r['store']}; {r['clients']} W1 clients, "
                     f"{r['hb_runs']} heartbeating runs; warm-up {r['warmup_s']:.0f} s)"),
        ("heartbeats", f"{r['hb_rate']:,.0f}/s ({r['heartbeats']:,}), p50 "
                       f"{r['hb_p50_ms']:.1f} ms, p99 {r['hb_p99_ms']:.1f} ms"),
        ("points ingested", f"{r['points_rate']:,.0f} points/s ({r['runs_finished']:,} W1 runs "
                            f"finished, {r['runs_started']:,} started)"),
        ("server CPU", f"{r['server_cpu_s']:.0f} s ({r['server_cpu_s'] / r['minutes'] / 60:.0%}"
                       " of one core)"),
        ("server RSS", f"{r['rss_start_mb']:.0f} MB at start, {r['rss_warmup_mb']:.0f} MB after "
                       f"warm-up, {r['rss_end_mb']:.0f} MB at the end (peak "
                       f"{r['rss_peak_mb']:.0f} MB)"),
        ("RSS growth after warm-up", f"{r['rss_growth']:+.1%}"),
        ("errors", f"{len(r['errors'])}" + (f" (first: {r['errors'][0]})" if r["errors"]
                                             else "")),
        ("points checked", f"{r['points_read']:,} read back of {r['runs_started'] * STEPS * KEYS:,}"
                           f" logged; {len(r['problems'])} series wrong"
                           + (f" (first: {r['problems'][0]})" if r["problems"] else "")),
    ]
    if markdown:
        return "\n".join(["| | |", "|---|---|", *[f"| {a} | {b} |" for a, b in rows]])
    width = max(len(a) for a, _ in rows)
    return "\n".join(f"{a.ljust(width)}  {b}" for a, b in rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="about 30 seconds")
    parser.add_argument("--minutes", type=float, default=None, help="default 10 (quick: 0.5)")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--hb-runs", type=int, default=50)
    parser.add_argument("--sample-s", type=float, default=None,
                        help="seconds between RSS samples (default 5; quick: 1)")
    parser.add_argument("--grace-s", type=float, default=180.0,
                        help="how long clients may take past the deadline before a kill")
    parser.add_argument("--pg", default=None, help="a PostgreSQL URL: soak over a new "
                                                   "database there instead of SQLite")
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--json", default=None, help="also write the results here")
    parser.add_argument("--census", default=None, metavar="FILE",
                        help="count the server's objects by type after warm-up and every "
                             "30 s, appending the types that grew to FILE (leak hunts)")
    args, _ = parser.parse_known_args(argv)  # `benchmarks/run` passes the others' flags too
    if args.minutes is None:
        args.minutes = 0.5 if args.quick else 10.0
    if args.sample_s is None:
        args.sample_s = 1.0 if args.quick else 5.0
    load0 = os.getloadavg()
    r = soak(args)
    load1 = os.getloadavg()
    print(f"\nServer soak — {os.cpu_count()} cores, load average {load0[0]:.1f} at start, "
          f"{load1[0]:.1f} / {load1[1]:.1f} / {load1[2]:.1f} at the end\n")
    print(report(r, args.markdown))
    ok_rss = r["rss_growth"] < 0.10
    ok = ok_rss and not r["errors"] and not r["problems"] \
        and r["points_read"] == r["runs_started"] * STEPS * KEYS
    print(f"\nTargets: RSS growth < 10% after warm-up: {'met' if ok_rss else 'NOT met'}; "
          f"no errors: {'met' if not r['errors'] else 'NOT met'}; every point stored exactly "
          f"once: {'met' if not r['problems'] else 'NOT met'}")
    for e in r["errors"][:20]:
        print(f"  error: {e}")
    for p in r["problems"][:20]:
        print(f"  wrong: {p}")
    if args.json:
        Path(args.json).write_text(json.dumps(r, indent=1))
    return 0 if ok or not args.strict else 1


if __name__ == "__main__":
    sys.exit(main())
