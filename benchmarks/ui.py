"""The web UI benchmark of issue 7: in headless Chromium, a run page with a 1,000,000-point
series from navigation start to its chart drawn (target: under one second), and the runs page
over many runs.

    .venv/bin/python benchmarks/ui.py                       # 1,000,000 points, 5 loads
    .venv/bin/python benchmarks/ui.py --runs 100000         # plus the runs page at 100,000 runs
    .venv/bin/python benchmarks/ui.py --points 200000 --repeat 3 --markdown

Needs Chromium at /usr/bin/chromium (``apt-get install chromium``; ``--chromium`` for another)
and the ``playwright`` package (``pip install -e '.[test]'``). A real ``picidae server``
process serves a fresh embedded store in a temporary folder; each page load uses a new
browser context, so nothing is cached between loads. Timings are the page's own
``performance`` marks: navigation start → ``picidae:first-chart`` (the first chart drawn on
its canvas, fed by ``max_points`` downsampling) and → ``picidae:runs-loaded``.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from array import array
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from picidae.core.record import new_record
from picidae.store.base import Batch, SeriesChunk
from picidae.store.registry import open_store

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
CHUNK = 200_000


def fill_series(store: Any, points: int) -> str:
    """A completed run with one ``points``-long series (a slow wave, ripples, two spikes)."""
    run = store.create_run(new_record("bench/ui-million", status="running"))
    t0 = time.time() - points * 0.01
    for start in range(0, points, CHUNK):
        steps = range(start, min(points, start + CHUNK))
        values = array("d", (math.sin(s / 5000) + 0.05 * math.sin(s * 7.3) for s in steps))
        store.write(run["id"], Batch(chunks=[SeriesChunk(
            "loss", "train", array("q", steps), values,
            array("d", (t0 + s * 0.01 for s in steps)))]))
    store.transition(run["id"], "completed")
    return str(run["id"])


def fill_runs(store: Any, n: int) -> None:
    """``n`` small completed runs (config and summary), one a second up to now."""
    now = time.time()
    for i in range(n):
        at = now - n + i
        record = new_record(f"scale/run-{i:06d}", status="running",
                            config={"lr": (i % 7) * 1e-3, "seed": i}, now=at)
        record.update(status="completed", ended_at=at + 60, summary={"acc": (i % 100) / 100})
        record["transitions"].append({"from": "running", "to": "completed", "at": at + 60,
                                      "reason": None, "actor": "bench"})
        store.create_run(record)


class Server:
    def __init__(self, store: str) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("PICIDAE_")}
        self.proc = subprocess.Popen([sys.executable, "-m", "picidae", "server", "--store", store,
                                      "--port", str(self.port)], env=env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError("the server did not start in 30 s")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=15)


def timed(fn: Callable[[], Any], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def page_mark(browser: Any, url: str, mark: str, repeat: int) -> list[float]:
    """Seconds from navigation start to ``mark``, each load in a fresh context."""
    out = []
    for _ in range(repeat):
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e, errors=errors: errors.append(str(e)))
        page.goto(url)
        page.wait_for_function(f"() => performance.getEntriesByName({mark!r}).length > 0",
                               timeout=60_000)
        out.append(page.evaluate(f"performance.getEntriesByName({mark!r})[0].startTime")
                   / 1000)
        context.close()
        if errors:
            raise RuntimeError(f"page errors on {url}: {errors}")
    return out


def row(name: str, times: list[float], note: str = "") -> tuple[str, str, str, str, str]:
    return (name, f"{statistics.median(times) * 1000:.0f} ms", f"{min(times) * 1000:.0f} ms",
            f"{max(times) * 1000:.0f} ms", note)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--runs", type=int, default=0,
                        help="also time the runs page over this many runs (e.g. 100000)")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table only")
    args = parser.parse_args(argv)
    if not Path(args.chromium).exists():
        print(f"benchmarks/ui.py: no Chromium at {args.chromium}: apt-get install chromium",
              file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright

    folder = Path(tempfile.mkdtemp(prefix="picidae-bench-ui-"))
    rows = []
    try:
        store = open_store(str(folder / "store"))
        started = time.perf_counter()
        run_id = fill_series(store, args.points)
        if args.runs:
            fill_runs(store, args.runs)
        store.close()
        if not args.markdown:
            print(f"filled the store in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        server = Server(str(folder / "store"))
        try:
            api = f"{server.url}/api/v1/runs/{run_id}/metrics/loss"
            httpx.get(api, params={"max_points": 1000}, timeout=60)  # warm the server
            rows.append(row(f"API: {args.points:,}-point series, max_points=1000", timed(
                lambda: httpx.get(api, params={"max_points": 1000}, timeout=60)
                .raise_for_status(), args.repeat), "server: read + min/max downsample"))
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
                rows.append(row(f"Run page, {args.points:,}-point series → chart drawn",
                                page_mark(browser, f"{server.url}/runs/{run_id}",
                                          "picidae:first-chart", args.repeat),
                                "target < 1 s; navigation start to canvas drawn"))
                if args.runs:
                    total = args.runs + 1
                    rows.append(row(f"Runs page, {total:,} runs → table drawn",
                                    page_mark(browser, f"{server.url}/", "picidae:runs-loaded",
                                              args.repeat),
                                    "first page of 50 with its total (facets follow)"))
                    last = httpx.get(f"{server.url}/api/v1/runs", params={
                        "limit": 50, "offset": total - 50}, timeout=60).json()
                    assert len(last["runs"]) == 50
                    rows.append(row(f"API: last page of {total:,} runs (limit 50)", timed(
                        lambda: httpx.get(f"{server.url}/api/v1/runs", params={
                            "limit": 50, "offset": total - 50}, timeout=60).raise_for_status(),
                        args.repeat), "deepest page"))
                browser.close()
        finally:
            server.stop()
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    header = ("benchmark", "median", "min", "max", "note")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    if not args.markdown:
        print(f"Picidae UI benchmark · {platform.platform()} · Python "
              f"{platform.python_version()} · {args.repeat} loads each\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
