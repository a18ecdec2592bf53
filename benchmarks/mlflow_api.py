"""One MLflow program against ``mlflow server`` and ``picidae server`` (MLflow's REST API).

    python benchmarks/mlflow_api.py [--quick] [--no-mlflow] [--markdown]
    bash benchmarks/run                # runs it after benchmarks/ledger.py

The program (``CLIENT`` below) is run with the unchanged ``mlflow`` client, in a subprocess
with ``MLFLOW_TRACKING_URI`` set, against three servers on 127.0.0.1 (each on a free port):

- ``mlflow server`` with a SQLite backend (``--backend-store-uri sqlite:///…``) in a temp folder;
- ``picidae server`` on an embedded store in a temp folder;
- the floor: a do-nothing HTTP server (standard library, keep-alive, one canned JSON answer per
  route family) in its own process, so what remains is the client's own cost per request
  (building and sending the request, parsing the answer) plus loopback HTTP.

Workloads (the issue's; ``--quick`` is smaller):

- W1: one run, 10,000 steps × 10 keys, ``mlflow.log_metrics(values, step=i)`` per step (one
  ``log-batch`` request each: what ``log_metrics`` users do);
- W1b: the same points through ``MlflowClient.log_batch`` in chunks of 1,000 metrics (MLflow's
  per-request limit): 100 requests;
- W2: 1,000 runs, each ``start_run``, ``log_params`` (20), ``set_tags`` (3), ``log_metrics``
  (5 finals), ``end_run``.

Times are measured inside the client program, from its first tracking call to its last (the
interpreter start and ``import mlflow`` are excluded), one repetition each. ``--no-mlflow``
skips ``mlflow server`` (Picidae and the floor only).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from ledger import machine  # benchmarks/ledger.py, beside this script

CLIENT = r'''
import json, sys, time
import mlflow
from mlflow import MlflowClient
from mlflow.entities import Metric

work, steps, keys, runs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
names = [f"metric_{j}" for j in range(keys)]
t0 = time.perf_counter()
if work == "W1":
    mlflow.set_experiment("bench-w1")
    with mlflow.start_run(run_name="w1"):
        for i in range(steps):
            mlflow.log_metrics({k: 1.0 / (i + 1) + j for j, k in enumerate(names)}, step=i)
elif work == "W1b":
    client = MlflowClient()
    mlflow.set_experiment("bench-w1b")
    with mlflow.start_run(run_name="w1b") as run:
        now = int(time.time() * 1000)
        batch = []
        for i in range(steps):
            batch.extend(Metric(k, 1.0 / (i + 1) + j, now, i) for j, k in enumerate(names))
            if len(batch) >= 1000:
                client.log_batch(run.info.run_id, metrics=batch)
                batch = []
        if batch:
            client.log_batch(run.info.run_id, metrics=batch)
elif work == "W2":
    mlflow.set_experiment("bench-w2")
    for i in range(runs):
        with mlflow.start_run(run_name=f"r{i}"):
            params = {"lr": 10 ** -(1 + i % 4), "batch_size": 32 * (1 + i % 8),
                      "optimizer": ("adam", "sgd", "adamw")[i % 3], "seed": i}
            params.update({f"param_{j}": i * 0.5 + j for j in range(16)})
            mlflow.log_params(params)
            mlflow.set_tags({"bench": "yes", "workload": "w2", "sweep": str(i % 10)})
            mlflow.log_metrics({f"final_{j}": (i * 7 + j) % 100 / 100 for j in range(5)})
print(json.dumps({"seconds": time.perf_counter() - t0}))
'''

STUB = r'''
import json, sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

EXP = {"experiment_id": "1", "name": "bench", "lifecycle_stage": "active",
       "artifact_location": "mlflow-artifacts:/1"}

def run():
    now = int(time.time() * 1000)
    return {"info": {"run_id": "r1", "run_uuid": "r1", "experiment_id": "1", "run_name": "r",
                     "status": "RUNNING", "start_time": now, "lifecycle_stage": "active",
                     "artifact_uri": "mlflow-artifacts:/1/r1/artifacts"},
            "data": {}, "inputs": {}}

class Nothing(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    def log_message(self, *args):
        pass
    def answer(self):
        size = int(self.headers.get("Content-Length") or 0)
        if size:
            self.rfile.read(size)
        if "/experiments/" in self.path:
            body = {"experiment": EXP, "experiment_id": "1"}
        elif self.path.endswith(("/runs/create", "/runs/get")):
            body = {"run": run()}
        elif self.path.endswith("/runs/update"):
            body = {"run_info": run()["info"]}
        else:
            body = {}
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
    do_GET = do_POST = do_PATCH = answer

ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Nothing).serve_forever()
'''


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """A server subprocess (in its own process group) on 127.0.0.1, stopped within seconds."""

    def __init__(self, name: str, command: list[str], port: int, health: str,
                 log: Path) -> None:
        self.name = name
        self.url = f"http://127.0.0.1:{port}"
        self.health = health
        self.log = log
        with log.open("ab") as out:
            self.proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        deadline = time.time() + 90
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{name} exited: {log.read_text(errors='replace')[-2000:]}")
            try:
                with urllib.request.urlopen(self.url + health, timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"{name} did not answer {health} in 90 s")

    def stop(self) -> None:
        """SIGTERM to the server's own process group, SIGKILL after 10 s."""
        if self.proc.poll() is not None:
            return
        for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                return
            try:
                self.proc.wait(wait)
                return
            except subprocess.TimeoutExpired:
                continue


def client(url: str, work: str, steps: int, keys: int, runs: int) -> float:
    """Run the MLflow program against ``url``; the seconds it reports."""
    env = dict(os.environ, MLFLOW_TRACKING_URI=url, MLFLOW_HTTP_REQUEST_MAX_RETRIES="0",
               GIT_PYTHON_REFRESH="quiet")
    env.pop("MLFLOW_TRACKING_TOKEN", None)
    done = subprocess.run([sys.executable, "-c", CLIENT, work, str(steps), str(keys),
                           str(runs)], env=env, capture_output=True, text=True, timeout=3600)
    if done.returncode != 0:
        raise RuntimeError(f"{work} against {url} failed:\n{done.stderr[-3000:]}")
    return float(json.loads(done.stdout.strip().splitlines()[-1])["seconds"])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="smaller workloads (a smoke run)")
    ap.add_argument("--no-mlflow", action="store_true", help="skip mlflow server")
    ap.add_argument("--markdown", action="store_true", help="print a Markdown table")
    ap.add_argument("--steps", type=int, help="W1's steps (default 10,000; --quick 500)")
    ap.add_argument("--runs", type=int, help="W2's runs (default 1,000; --quick 50)")
    args, _ = ap.parse_known_args(argv)  # benchmarks/run passes ledger.py's flags too
    steps, keys, runs = (500, 10, 50) if args.quick else (10_000, 10, 1_000)
    steps, runs = args.steps or steps, args.runs or runs
    info = machine()
    try:
        import mlflow
    except ImportError:
        print("mlflow_api: the mlflow client is not installed (pip install -e '.[bench]'; "
              "benchmarks/run does it); skipping", file=sys.stderr)
        return 0
    info["mlflow"] = mlflow.__version__
    work = [("W1", steps * keys, "points", f"log_metrics per step ({steps:,} × {keys})"),
            ("W1b", steps * keys, "points", "MlflowClient.log_batch, 1,000 metrics a request"),
            ("W2", runs, "runs", f"{runs:,} runs: 20 params, 3 tags, 5 finals")]
    root = Path(tempfile.mkdtemp(prefix="picidae-mlflow-bench-"))
    servers: dict[str, Server] = {}
    times: dict[tuple[str, str], float] = {}
    try:
        port = free_port()
        servers["floor"] = Server("floor", [sys.executable, "-c", STUB, str(port)], port, "/",
                                  root / "stub.log")
        port = free_port()
        servers["picidae"] = Server(
            "picidae server", [sys.executable, "-m", "picidae", "server", "--store",
                               str(root / "picidae"), "--host", "127.0.0.1", "--port",
                               str(port)], port, "/healthz", root / "picidae.log")
        if not args.no_mlflow:
            port = free_port()
            servers["mlflow"] = Server(
                "mlflow server", [sys.executable, "-m", "mlflow", "server", "--backend-store-uri",
                                  f"sqlite:///{root / 'mlflow.db'}", "--artifacts-destination",
                                  str(root / "mlartifacts"), "--host", "127.0.0.1", "--port",
                                  str(port), "--workers", "1"], port, "/health",
                root / "mlflow.log")
        for name, _, _, _ in work:
            for side, server in servers.items():
                print(f"... {name} against {server.name}", file=sys.stderr, flush=True)
                times[(name, side)] = client(server.url, name, steps, keys, runs)
    finally:
        for server in servers.values():
            server.stop()
        info["load average at end"] = ", ".join(f"{x:.2f}" for x in os.getloadavg())
        import shutil

        shutil.rmtree(root, ignore_errors=True)
    print(render(work, times, info, args.markdown))
    return 0


def render(work: list[tuple[str, int, str, str]], times: dict[tuple[str, str], float],
           info: dict[str, str], markdown: bool) -> str:
    """The table: per workload, each server's time and rate, the ratio, and the floor."""
    def cell(name: str, side: str, n: int, unit: str) -> str:
        t = times.get((name, side))
        return "—" if t is None else f"{t:.2f} s ({n / t:,.0f} {unit}/s)"

    head = ["workload", "mlflow server (SQLite)", "picidae server", "mlflow / picidae",
            "client floor (do-nothing server)", "picidae / floor", "≥10×"]
    rows = []
    for name, n, unit, what in work:
        m, p, f = (times.get((name, s)) for s in ("mlflow", "picidae", "floor"))
        rows.append([f"{name}: {what}", cell(name, "mlflow", n, unit),
                     cell(name, "picidae", n, unit), "—" if m is None or p is None
                     else f"{m / p:.1f}×", cell(name, "floor", n, unit),
                     "—" if p is None or f is None else f"{p / f:.2f}×",
                     "—" if m is None or p is None else ("met" if m / p >= 10 else "MISS")])
    lines = [f"{k}: {v}" for k, v in info.items()]
    if markdown:
        lines += ["", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
    else:
        widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
        lines += ["", "  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True))]
        lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
