"""A million runs (issue 17): ``history``, the status facets and the UI runs page, on SQLite
and PostgreSQL.

    PYTHONPATH=src .venv/bin/python benchmarks/scale_ui.py                 # 1,000,000 runs
    PYTHONPATH=src .venv/bin/python benchmarks/scale_ui.py --quick         # 20,000 runs
    PYTHONPATH=src .venv/bin/python benchmarks/scale_ui.py --sqlite /tmp/million \\
        --postgres postgresql://…/million                           # stores filled already

Each store is filled by ``benchmarks/bulk_load.py`` (unless given, already filled: a store
holding runs is used as it is) and served by a real ``picidae server`` process. Timed, as
the median of ``--repeat`` after one warm-up, each against its target:

- ``picidae.history()`` over every run (in process; target < 1 s), and ``by="name"``;
- the status facets of the runs page (its top-level runs, ``parent_id is null``):
  ``GET /api/v1/ui/facets`` (target < 100 ms) and the store call alone;
- the history chart's API, ``GET /api/v1/ui/history`` for the last 14 and 180 days of the
  load (``until`` = the newest run);
- the runs page in headless Chromium (as ``benchmarks/ui.py``; a fresh context per load):
  navigation start → the 50 rows drawn (``picidae:runs-loaded``) and → the status counts
  drawn (``picidae:runs-facets``), the page then interactive (target < 1 s).

PostgreSQL gets ``VACUUM ANALYZE`` after its load (what autovacuum does soon after one: the
visibility map lets the counts read the indexes alone). ``PICIDAE_TEST_PG`` (default
``postgresql://postgres@127.0.0.1:5432/test``) names the server where a scratch database is
created and dropped; ``--no-postgres`` skips it.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))

from bulk_load import END, fill  # noqa: E402

from analysis import pg_scratch  # noqa: E402
from ui import CHROMIUM_ARGS, Server  # noqa: E402

PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"
TOP = "parent_id is null"  # what the runs page lists by default


def progress(msg: str) -> None:
    print(f"  … {msg}", file=sys.stderr, flush=True)


def median_s(fn: Callable[[], Any], repeat: int) -> float:
    fn()  # warm-up
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return statistics.median(out)


def page_marks(browser: Any, url: str, repeat: int) -> tuple[float, float, int, int]:
    """Median seconds to ``picidae:runs-loaded`` and to ``picidae:runs-facets``, with the
    rows and the sum of the status counts the page shows (checked against the store)."""
    loaded, facets = [], []
    rows = shown = 0
    for _ in range(repeat + 1):
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e, errors=errors: errors.append(str(e)))
        page.goto(url)
        page.wait_for_function("() => performance.getEntriesByName('picidae:runs-facets')"
                               ".length > 0", timeout=120_000)
        marks = page.evaluate("['picidae:runs-loaded', 'picidae:runs-facets'].map((m) => "
                              "performance.getEntriesByName(m)[0].startTime)")
        rows = page.locator("table tbody tr[data-id]").count()
        shown = sum(int(t.replace(",", "")) for t in
                    page.locator(".facets .facet .n").all_inner_texts())
        context.close()
        if errors:
            raise RuntimeError(f"page errors on {url}: {errors}")
        if _ == 0:
            continue  # warm-up: the server's first reads
        loaded.append(marks[0] / 1000)
        facets.append(marks[1] / 1000)
    return statistics.median(loaded), statistics.median(facets), rows, shown


def bench(url: str, n: int, repeat: int, chromium: str | None, fill_it: bool) -> dict[str, Any]:
    import picidae
    from picidae.store.base import RunQuery
    from picidae.store.registry import open_store

    store = open_store(url)
    out: dict[str, Any] = {}
    if fill_it:
        out["fill_s"] = fill(store, n)
    if store.dialect_name == "postgresql":
        with store.engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
                "VACUUM ANALYZE runs")
    total = store.count_runs(RunQuery(include_archived=True))
    out["runs"] = total
    progress(f"{store.dialect_name}: {total:,} runs; timing history and facets")
    out["history"] = median_s(lambda: picidae.history(store=url), repeat)
    out["history_name"] = median_s(lambda: picidae.history(store=url, by="name"), 1)
    # The runs page lists top-level runs: its facets count those (archived ones apart).
    page = RunQuery(where=TOP, include_archived=False)
    out["facets_store"] = median_s(lambda: store.status_counts(page), repeat)
    want = store.status_counts(page)
    store.close()
    server = Server(url)
    try:
        api = server.url + "/api/v1"
        got = httpx.get(f"{api}/ui/facets", params={"where": TOP}, timeout=120).json()
        assert got["statuses"] == want, (got, want)
        out["facets_api"] = median_s(lambda: httpx.get(f"{api}/ui/facets", params={
            "where": TOP}, timeout=120).raise_for_status(), repeat)
        for days in (14, 180):
            out[f"chart_{days}"] = median_s(lambda days=days: httpx.get(
                f"{api}/ui/history", params={"days": days, "until": END}, timeout=120)
                .raise_for_status(), repeat)
        out["page_api"] = median_s(lambda: httpx.get(f"{api}/runs", params={
            "limit": 50, "with_total": "true", "where": TOP}, timeout=120)
            .raise_for_status(), repeat)
        if chromium:
            from playwright.sync_api import sync_playwright

            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
                loaded, facets, rows, shown = page_marks(browser, server.url + "/", repeat)
                browser.close()
            assert rows == 50, rows
            assert shown == sum(want.values()), (shown, want)
            out.update(page_rows=loaded, page_facets=facets)
    finally:
        server.stop()
    return out


def table(results: dict[str, dict[str, Any]]) -> str:
    names = list(results)
    rows = [
        ("`picidae.history()`, every run", "history", 1.0),
        ("`picidae.history(by=\"name\")`", "history_name", None),
        ("status facets, store call", "facets_store", 0.1),
        ("status facets, `GET /api/v1/ui/facets`", "facets_api", 0.1),
        ("history chart, 14 days (`/api/v1/ui/history`)", "chart_14", 1.0),
        ("history chart, 180 days", "chart_180", None),
        ("runs page API, 50 top-level rows + total", "page_api", None),
        ("runs page (Chromium) → 50 rows drawn", "page_rows", None),
        ("runs page (Chromium) → status counts drawn: interactive", "page_facets", 1.0),
    ]
    head = "| | " + " | ".join(f"{name} ({results[name]['runs']:,} runs)" for name in names)
    lines = [head + " | target |", "|---|" + "---:|" * len(names) + "---|"]
    for label, key, target in rows:
        cells = []
        for name in names:
            value = results[name].get(key)
            if value is None:
                cells.append("-")
                continue
            mark = "" if target is None else (" ✓" if value < target else " ✗ miss")
            cells.append(f"{value * 1000:,.0f} ms{mark}")
        goal = "-" if target is None else f"< {target * 1000:,.0f} ms"
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {goal} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="20,000 runs, 3 repeats")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--sqlite", help="an embedded store (folder) filled already")
    parser.add_argument("--postgres", help="a PostgreSQL URL filled already")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args, _ = parser.parse_known_args(argv)  # benchmarks/run passes its own options too
    if args.quick:
        args.runs, args.repeat = 20_000, 3
    chromium = args.chromium if Path(args.chromium).exists() else None
    try:
        import playwright  # noqa: F401
    except ImportError:
        chromium = None
    if chromium is None:
        progress(f"no Chromium at {args.chromium} or no playwright (pip install -e "
                 "'.[test]'): the runs page is not timed")
    results: dict[str, dict[str, Any]] = {}
    tmp = Path(tempfile.mkdtemp(prefix="picidae-bench-scale-ui-"))
    try:
        results["SQLite"] = bench(args.sqlite or str(tmp / "store"), args.runs, args.repeat,
                                  chromium, fill_it=not args.sqlite)
        if args.postgres:
            results["PostgreSQL"] = bench(args.postgres, args.runs, args.repeat, chromium,
                                          fill_it=False)
        elif not args.no_postgres:
            url, drop = pg_scratch(os.environ.get("PICIDAE_TEST_PG") or PG_DEFAULT)
            try:
                results["PostgreSQL"] = bench(url, args.runs, args.repeat, chromium, True)
            finally:
                drop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"A million runs: history, facets and the runs page · {platform.platform()} · "
          f"Python {platform.python_version()} · load {os.getloadavg()[0]:.1f} · median of "
          f"{args.repeat}\n")
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
