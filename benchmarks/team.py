"""Team-mode benchmarks (issue 3): Picidae's server and MLflow's tracking server on loopback,
the same machine and workloads, one table.

    python benchmarks/team.py [--quick] [--no-mlflow] [--pg URL] [--markdown]

(run it with Picidae's interpreter, e.g. ``.venv/bin/python``; MLflow's server and clients
run on ``.venv-bench``, which ``bash benchmarks/run`` creates, unless this one has MLflow.)

Workloads:

- **Ingest, 1 client**: W1 (one run, 10,000 steps x 10 keys, ``run.log(**values)`` per step)
  from a client process through ``store="http://..."``, timed from ``init`` to ``finish``
  (its final flush included): points per second end to end. MLflow: ``log_metrics(values,
  step=i)`` per step (``--mlflow-async`` adds a row with MLflow's async logging).
- **Ingest, 8 clients**: eight client processes each logging W1 at once, released together
  after their imports; total points over the wall time until the last ``finish`` returned.
- **Heartbeats**: ``--hb-procs`` processes x ``--hb-threads`` threads, each with a keep-alive
  ``httpx.Client``, POSTing one running run's heartbeat in a loop for ``--hb-seconds``:
  requests per second and latency percentiles. MLflow has no heartbeat; the nearest small
  write, ``POST /api/2.0/mlflow/runs/update`` (status RUNNING), stands in.

Stores: Picidae's server over a fresh embedded (SQLite) store, and over a fresh PostgreSQL
database when ``--pg`` names a server it may create databases on; MLflow's server over a fresh
SQLite file, with its default workers. Client processes, servers and the database share the
machine's cores, so every number is end to end on one box.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

CLIENT = r"""
import json, sys, time
system, url, steps, keys, mode = sys.argv[1:6]
steps, keys = int(steps), int(keys)
rows = [{f"k{j}": (i * keys + j) * 1e-3 for j in range(keys)} for i in range(steps)]
if system == "picidae":
    import picidae
else:
    import logging, warnings
    warnings.filterwarnings("ignore")
    import mlflow
    for name in ("mlflow", "alembic", "urllib3"):
        logging.getLogger(name).setLevel(logging.ERROR)
    mlflow.set_tracking_uri(url)
    mlflow.set_experiment("bench")
    if mode == "async":
        mlflow.config.enable_async_logging(True)
print("ready", flush=True)
sys.stdin.readline()
t0 = time.perf_counter()
if system == "picidae":
    run = picidae.init("bench/w1", store=url, capture_env=False)
    for row in rows:
        run.log(**row)
    run.finish()
    run.flush()  # written, not only handed over (a new run's end may wait: deferred.py)
    run_id = run.id
else:
    run = mlflow.start_run(run_name="bench/w1")
    for i, row in enumerate(rows):
        mlflow.log_metrics(row, step=i)
    mlflow.end_run()
    run_id = run.info.run_id
print(json.dumps({"elapsed": time.perf_counter() - t0, "run_id": run_id}), flush=True)
"""

HEARTBEATS = r"""
import json, sys, threading, time
import httpx
system, url, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
run_ids = sys.argv[4:]
print("ready", flush=True)
sys.stdin.readline()
cpu0 = time.process_time()
stop = time.perf_counter() + seconds
lat = []
def loop(run_id):
    mine = []
    with httpx.Client(base_url=url, timeout=30) as client:
        if system == "picidae":
            path, body = f"/api/v1/runs/{run_id}/heartbeat", {}
        else:
            path, body = "/api/2.0/mlflow/runs/update", {"run_id": run_id, "status": "RUNNING"}
        while True:
            t = time.perf_counter()
            if t >= stop:
                break
            r = client.post(path, json=body)
            mine.append(time.perf_counter() - t)
            assert r.status_code == 200, r.text
    lat.extend(mine)
threads = [threading.Thread(target=loop, args=(rid,)) for rid in run_ids]
for t in threads: t.start()
for t in threads: t.join()
print(json.dumps({"lat": lat, "cpu": time.process_time() - cpu0, "errors": 0}), flush=True)
"""

#: The lean heartbeat client: one asyncio process, one keep-alive HTTP/1.1 connection per run
#: (requests written by hand, responses read by Content-Length), so that on a small machine
#: the clients' CPU does not decide the server's rate. Picidae only. With a deadline
#: (``seconds``) or, when ``seconds`` is negative, until stdin closes (the soak).
HEARTBEATS_LEAN = r"""
import asyncio, json, sys, time
try:
    import uvloop
except ImportError:
    uvloop = None
url, seconds, out = sys.argv[1], float(sys.argv[2]), sys.argv[3]
run_ids = sys.argv[4:]
host, _, port = url.split("://", 1)[1].partition(":")
lat, errors, stop_at = [], [], [None]

async def one(rid):
    reader, writer = await asyncio.open_connection(host, int(port))
    request = (f"POST /api/v1/runs/{rid}/heartbeat HTTP/1.1\r\nHost: {host}:{port}\r\n"
               "Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}").encode()
    mine = []
    try:
        while stop_at[0] is None or time.perf_counter() < stop_at[0]:
            t = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            body = await reader.readexactly(length)
            mine.append(time.perf_counter() - t)
            if head[9:12] != b"200" or b'"running"' not in body:
                errors.append((head[:12] + b" " + body[:200]).decode("latin-1"))
                break
    except (OSError, asyncio.IncompleteReadError) as exc:
        errors.append(f"{rid}: {exc!r}")
    finally:
        writer.close()
        lat.extend(mine)

async def main():
    loop = asyncio.get_running_loop()
    if seconds >= 0:
        stop_at[0] = time.perf_counter() + seconds
        await asyncio.gather(*[one(rid) for rid in run_ids])
        return
    tasks = [asyncio.ensure_future(one(rid)) for rid in run_ids]
    await loop.run_in_executor(None, sys.stdin.readline)  # the soak says stop
    stop_at[0] = time.perf_counter()
    await asyncio.gather(*tasks)

print("ready", flush=True)
sys.stdin.readline()
cpu0 = time.process_time()
(uvloop.run if uvloop else asyncio.run)(main())
with open(out, "w") as f:
    json.dump({"lat": lat, "cpu": time.process_time() - cpu0, "errors": errors}, f)
"""


#: The interpreter with MLflow: this one, else ``.venv-bench``'s (``bash benchmarks/run``
#: makes it). Picidae's side always runs on this interpreter.
MLFLOW_PYTHON: str | None = None


def mlflow_python() -> str | None:
    import importlib.util

    if importlib.util.find_spec("mlflow") is not None:
        return sys.executable
    bench = ROOT / ".venv-bench" / "bin" / "python"
    return str(bench) if bench.exists() else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, proc: subprocess.Popen[bytes], within: float = 60) -> None:
    import httpx

    deadline = time.time() + within
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.TransportError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {within:.0f} s")


@dataclass
class Server:
    """A server process under test."""

    system: str
    label: str
    url: str
    proc: subprocess.Popen[bytes]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def picidae_server(store: str, label: str, workers: int = 1) -> Server:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PICIDAE_")}
    proc = subprocess.Popen([sys.executable, "-m", "picidae", "server", "--store", store,
                             "--port", str(port), "--workers", str(workers)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    wait_http(f"{url}/healthz", proc)
    return Server("picidae", label, url, proc)


#: The floor for ``--floor``: uvicorn (the same settings as ``picidae server``) serving a bare
#: ASGI app that answers a heartbeat as Picidae does, with no framework, store or bookkeeping.
FLOOR_APP = r"""
import sys, orjson, uvicorn
async def app(scope, receive, send):
    if scope["type"] != "http":
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
        return
    while (await receive()).get("more_body"):
        pass
    parts = scope["path"].split("/")
    body = orjson.dumps({"id": parts[-2] if len(parts) > 2 else "", "status": "running"})
    await send({"type": "http.response.start", "status": 200, "headers": [
        (b"content-length", str(len(body)).encode()), (b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning",
            access_log=False)
"""


def floor_server() -> Server:
    """uvicorn and a bare ASGI app (``FLOOR_APP``): what HTTP alone costs here."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", FLOOR_APP, str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    wait_http(f"{url}/healthz", proc)
    return Server("floor", "floor: uvicorn + a bare ASGI app", url, proc)


def mlflow_server(folder: Path) -> Server:
    port = free_port()
    assert MLFLOW_PYTHON is not None
    mlflow = Path(MLFLOW_PYTHON).with_name("mlflow")
    proc = subprocess.Popen([str(mlflow), "server", "--backend-store-uri",
                             f"sqlite:///{folder}/mlflow.db", "--default-artifact-root",
                             str(folder / "artifacts"), "--host", "127.0.0.1", "--port",
                             str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    wait_http(f"{url}/health", proc, within=120)
    return Server("mlflow", "MLflow server (SQLite, default 4 workers)", url, proc)


def released(procs: list[subprocess.Popen[str]]) -> float:
    """Wait until every process printed ``ready``, then release them together."""
    for p in procs:
        assert p.stdout is not None and p.stdout.readline().strip() == "ready"
    t0 = time.perf_counter()
    for p in procs:
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()
    return t0


def spawn(code: str, args: list[str]) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PICIDAE_")}
    env["PICIDAE_HOME"] = tempfile.mkdtemp(prefix="picidae-bench-home-")
    python = MLFLOW_PYTHON if args[0] == "mlflow" and MLFLOW_PYTHON else sys.executable
    return subprocess.Popen([python, "-c", code, *args], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, env=env)


def ingest(server: Server, clients: int, steps: int, keys: int,
           mode: str = "sync") -> dict[str, Any]:
    procs = [spawn(CLIENT, [server.system, server.url, str(steps), str(keys), mode])
             for _ in range(clients)]
    t0 = released(procs)
    outs = []
    for p in procs:
        out, _ = p.communicate(timeout=3600)
        assert p.returncode == 0, f"a client failed ({p.returncode})"
        outs.append(json.loads(out.strip().splitlines()[-1]))
    wall = time.perf_counter() - t0
    points = clients * steps * keys
    return {"points": points, "wall_s": wall, "rate": points / wall,
            "client_s": [o["elapsed"] for o in outs], "run_ids": [o["run_id"] for o in outs]}


def check_points(server: Server, run_id: str, expect: int) -> None:
    """The points of one benchmark run read back (Picidae only)."""
    import picidae

    rv = picidae.get_run(run_id, store=server.url)
    got = sum(len(rv.metrics(k)) for k in rv.metric_keys())
    assert got == expect, f"{got} points read back, {expect} logged"


def running_runs(server: Server, n: int) -> list[str]:
    import httpx

    ids = []
    if server.system == "floor":
        return [f"floor-{i}" for i in range(n)]
    with httpx.Client(base_url=server.url, timeout=30) as c:
        if server.system == "picidae":
            for i in range(n):
                r = c.post("/api/v1/runs", json={"name": f"bench/hb/{i}", "status": "running"})
                ids.append(r.json()["id"])
        else:
            exp = c.post("/api/2.0/mlflow/experiments/create", json={"name": "hb"}).json()
            for i in range(n):
                r = c.post("/api/2.0/mlflow/runs/create", json={
                    "experiment_id": exp["experiment_id"], "run_name": f"hb-{i}",
                    "start_time": int(time.time() * 1000)})
                ids.append(r.json()["run"]["info"]["run_id"])
    return ids


def percentile(ordered: list[float], q: float) -> float:
    """The ``q`` quantile of sorted seconds, in milliseconds."""
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else 0.0


def process_cpu(pid: int) -> float:
    """CPU seconds a process (and its children: ``--workers``) used so far."""
    import psutil

    proc = psutil.Process(pid)
    total = 0.0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            t = p.cpu_times()
        except psutil.Error:
            continue
        total += t.user + t.system
    return total


def heartbeats(server: Server, procs: int, threads: int, seconds: float,
               client: str = "lean") -> dict[str, Any]:
    """``procs`` x ``threads`` runs heartbeating for ``seconds``: rate, latency percentiles
    and the CPU seconds the server and the clients spent per request. ``client`` is ``lean``
    (one asyncio process with a raw keep-alive connection per run) or ``httpx`` (a thread
    and a keep-alive ``httpx.Client`` per run: the client costs about 4x the server)."""
    ids = running_runs(server, procs * threads)
    lean = client == "lean" and server.system in ("picidae", "floor")
    outs = [Path(tempfile.mkdtemp(prefix="picidae-hb-")) / "out.json" for _ in range(procs)]
    workers = [spawn(HEARTBEATS_LEAN, [server.url, str(seconds), str(outs[i]),
                                       *ids[i * threads:(i + 1) * threads]]) if lean
               else spawn(HEARTBEATS, [server.system, server.url, str(seconds),
                                       *ids[i * threads:(i + 1) * threads]])
               for i in range(procs)]
    cpu0 = process_cpu(server.proc.pid)
    t0 = released(workers)
    lat: list[float] = []
    client_cpu = 0.0
    errors: list[str] = []
    for w, path in zip(workers, outs, strict=True):
        out, _ = w.communicate(timeout=seconds + 120)
        assert w.returncode == 0, "a heartbeat client failed"
        got = json.loads(path.read_text() if lean else out.strip().splitlines()[-1])
        shutil.rmtree(path.parent, ignore_errors=True)
        lat.extend(got["lat"])
        client_cpu += got["cpu"]
        errors += got["errors"] or []
    wall = time.perf_counter() - t0
    server_cpu = process_cpu(server.proc.pid) - cpu0
    assert not errors, f"heartbeat errors: {errors[:3]}"
    lat.sort()
    n = max(1, len(lat))
    return {"requests": len(lat), "wall_s": wall, "rate": len(lat) / seconds,
            "p50_ms": percentile(lat, 0.50), "p95_ms": percentile(lat, 0.95),
            "p99_ms": percentile(lat, 0.99), "client": "lean" if lean else "httpx",
            "server_cpu_us": server_cpu / n * 1e6, "client_cpu_us": client_cpu / n * 1e6}


@dataclass
class Row:
    workload: str
    cells: dict[str, str] = field(default_factory=dict)


def machine() -> str:
    load = os.getloadavg()
    return (f"{os.cpu_count()} cores, Python {platform.python_version()}, "
            f"load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}")


def table(rows: list[Row], columns: list[str], markdown: bool) -> str:
    head = ["workload", *columns]
    body = [[r.workload, *[r.cells.get(c, "-") for c in columns]] for r in rows]
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
        lines += ["| " + " | ".join(b) + " |" for b in body]
        return "\n".join(lines)
    widths = [max(len(x[i]) for x in [head, *body]) for i in range(len(head))]
    return "\n".join("  ".join(x[i].ljust(widths[i]) for i in range(len(head)))
                     for x in [head, *body])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1,000 steps, short heartbeats")
    parser.add_argument("--no-mlflow", action="store_true")
    parser.add_argument("--mlflow-async", action="store_true",
                        help="also MLflow with async logging (it batches in the client)")
    parser.add_argument("--mlflow-steps", type=int, default=None,
                        help="W1 steps for MLflow (default: as Picidae; it is slow)")
    parser.add_argument("--pg", default=os.environ.get("PICIDAE_TEST_PG"),
                        help="a PostgreSQL server URL to create a benchmark database on")
    parser.add_argument("--workers", type=lambda v: [int(x) for x in v.split(",")],
                        default=[1, 2], help="Picidae server processes, e.g. 1,2 (a column "
                                             "each)")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--hb-procs", type=int, default=None,
                        help="heartbeat client processes (default: 2 lean, 4 httpx)")
    parser.add_argument("--hb-threads", type=int, default=None,
                        help="runs per heartbeat process (default: 25 lean, 4 httpx)")
    parser.add_argument("--hb-seconds", type=float, default=5.0)
    parser.add_argument("--hb-client", choices=["lean", "httpx", "both"], default="both",
                        help="heartbeat clients: raw keep-alive asyncio (lean), httpx "
                             "threads, or a row each")
    parser.add_argument("--heartbeats-only", action="store_true",
                        help="skip the ingest rows")
    parser.add_argument("--floor", action="store_true",
                        help="a column for uvicorn serving a bare ASGI app (heartbeats with "
                             "lean clients only): the HTTP floor on this machine")
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args(argv)
    global MLFLOW_PYTHON
    MLFLOW_PYTHON = mlflow_python()
    if MLFLOW_PYTHON is None:
        args.no_mlflow = True
    steps = 1_000 if args.quick else 10_000
    keys = 10
    if args.quick:
        args.hb_seconds = min(args.hb_seconds, 2.0)
    mlflow_steps = args.mlflow_steps or steps
    clients = ["lean", "httpx"] if args.hb_client == "both" else [args.hb_client]
    shape = {"lean": (args.hb_procs or 2, args.hb_threads or 25),
             "httpx": (args.hb_procs or 4, args.hb_threads or 4)}
    hb_shape = {k: f"{p}x{t}" for k, (p, t) in shape.items()}

    work = Path(tempfile.mkdtemp(prefix="picidae-team-bench-"))
    servers: list[tuple[Server, Any]] = []
    try:
        for n in args.workers:
            label = "Picidae server (SQLite" + (f", {n} workers)" if n > 1 else ")")
            servers.append((picidae_server(str(work / f"store-{n}"), label, n), None))
        if args.pg:
            servers.append(_pg_server(args.pg, max(args.workers)))
        if args.floor:
            servers.append((floor_server(), None))
        if not args.no_mlflow:
            (work / "mlflow").mkdir()
            servers.append((mlflow_server(work / "mlflow"), None))
        rows = {"one": Row(f"ingest W1, 1 client ({steps * keys:,} points)"),
                "many": Row(f"ingest W1, {args.clients} clients "
                            f"({args.clients * steps * keys:,} points)"),
                "hb": Row(f"heartbeats, httpx clients {hb_shape['httpx']}, "
                          f"{args.hb_seconds:g} s"),
                "hb_lean": Row(f"heartbeats, lean clients {hb_shape['lean']}, "
                               f"{args.hb_seconds:g} s"),
                "async1": Row("ingest W1, 1 client, MLflow async logging"),
                "asyncN": Row(f"ingest W1, {args.clients} clients, MLflow async logging")}
        columns = []
        raw: dict[str, Any] = {}
        for server, _ in servers:
            col = server.label
            columns.append(col)
            n = mlflow_steps if server.system == "mlflow" else steps
            raw[col] = {}
            if not args.heartbeats_only and server.system != "floor":
                print(f"[{col}] ingest, 1 client ...", file=sys.stderr, flush=True)
                one = ingest(server, 1, n, keys)
                if server.system == "picidae":
                    check_points(server, one["run_ids"][0], n * keys)
                rows["one"].cells[col] = f"{one['rate']:,.0f} points/s ({one['wall_s']:.2f} s)"
                print(f"[{col}] ingest, {args.clients} clients ...", file=sys.stderr,
                      flush=True)
                many = ingest(server, args.clients, n, keys)
                rows["many"].cells[col] = (f"{many['rate']:,.0f} points/s "
                                           f"({many['wall_s']:.2f} s)")
                raw[col].update(ingest_1=one, ingest_n=many)
            for kind in clients:
                if (kind, server.system) in (("lean", "mlflow"), ("httpx", "floor")):
                    continue  # the lean client speaks Picidae's route; the floor has no more
                print(f"[{col}] heartbeats, {kind} clients ...", file=sys.stderr, flush=True)
                hb = heartbeats(server, *shape[kind], args.hb_seconds, client=kind)
                rows["hb" if kind == "httpx" else "hb_lean"].cells[col] = (
                    f"{hb['rate']:,.0f}/s, p50 {hb['p50_ms']:.1f} ms, p99 {hb['p99_ms']:.1f} "
                    f"ms; CPU per request: server {hb['server_cpu_us']:.0f} µs, clients "
                    f"{hb['client_cpu_us']:.0f} µs")
                raw[col][f"heartbeats_{kind}"] = hb
            if server.system == "mlflow" and args.mlflow_async:
                a1 = ingest(server, 1, n, keys, mode="async")
                rows["async1"].cells[col] = f"{a1['rate']:,.0f} points/s ({a1['wall_s']:.2f} s)"
                an = ingest(server, args.clients, n, keys, mode="async")
                rows["asyncN"].cells[col] = f"{an['rate']:,.0f} points/s ({an['wall_s']:.2f} s)"
        shown = [] if args.heartbeats_only else [rows["one"], rows["many"]]
        shown += [rows["hb_lean" if kind == "lean" else "hb"] for kind in clients]
        if args.mlflow_async and not args.no_mlflow:
            shown += [rows["async1"], rows["asyncN"]]
        print(f"\nTeam-mode benchmarks — {machine()}; W1 = {steps:,} steps x {keys} keys"
              + (f" (MLflow: {mlflow_steps:,} steps)" if mlflow_steps != steps
                 and not args.no_mlflow else "") + "\n")
        print(table(shown, columns, args.markdown))
        print("\nTargets: ingest >= 300,000 points/s in total with 8 clients; heartbeats >= "
              "3,000/s with p99 < 50 ms.")
        for server, _ in servers:
            if server.system == "picidae":
                col = server.label
                if "ingest_n" in raw[col]:
                    total = raw[col]["ingest_n"]["rate"]
                    print(f"  {col}: ingest {'met' if total >= 300_000 else 'NOT met'} "
                          f"({total:,.0f}/s)")
                for kind in clients:
                    hb = raw[col][f"heartbeats_{kind}"]
                    print(f"  {col}: heartbeats ({kind} clients) "
                          f"{'met' if hb['rate'] >= 3000 and hb['p99_ms'] < 50 else 'NOT met'}"
                          f" ({hb['rate']:,.0f}/s, p99 {hb['p99_ms']:.1f} ms)")
        if os.environ.get("PICIDAE_BENCH_JSON"):
            Path(os.environ["PICIDAE_BENCH_JSON"]).write_text(json.dumps(raw, indent=2))
    finally:
        for server, cleanup in servers:
            server.stop()
            if cleanup is not None:
                cleanup()
        shutil.rmtree(work, ignore_errors=True)
    return 0


def _pg_server(base: str, workers: int = 1) -> tuple[Server, Any]:
    """A server over a new database on ``base``'s PostgreSQL (dropped afterwards)."""
    import secrets

    import psycopg
    from psycopg import sql

    name = f"picidae_bench_{secrets.token_hex(4)}"
    head = base.rpartition("/")[0]
    admin = psycopg.connect(base, autocommit=True)
    admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = f"{head}/{name}"
    label = "Picidae server (PostgreSQL" + (f", {workers} workers)" if workers > 1 else ")")
    server = picidae_server(url, label, workers)

    def drop() -> None:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(name)))
        admin.close()

    return server, drop


if __name__ == "__main__":
    sys.exit(main())
