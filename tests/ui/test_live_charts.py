"""Live charts keep up: a running run's chart draws new points within 3 s of their flush,
without a reload, whether its page was opened before, during or after the run."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

# Logs a burst of 25 points of loss and acc each time the test asks (a file burst-K), flushes,
# and says so (done-K); finishes the run on stop.
LOGGER = textwrap.dedent("""
    import os, sys, time
    import picidae

    store, folder = sys.argv[1], sys.argv[2]
    run = picidae.init("live/bursts", store=store, config={"lr": 0.1})
    open(os.path.join(folder, "id.tmp"), "w").write(run.id)
    os.rename(os.path.join(folder, "id.tmp"), os.path.join(folder, "id"))
    k = 0
    while not os.path.exists(os.path.join(folder, "stop")):
        if os.path.exists(os.path.join(folder, f"burst-{k}")):
            for step in range(25 * k, 25 * k + 25):
                run.log(loss=1.0 / (step + 1), acc=step / 100, step=step,
                        stage="warmup" if step < 25 else "train")
            run.flush()
            open(os.path.join(folder, f"done-{k}"), "w").close()
            k += 1
        time.sleep(0.02)
    run.finish()
""")

CHART = '[data-chart][data-key="{key}"]'


def wait_file(path: Path, timeout: float = 20) -> None:
    deadline = time.time() + timeout
    while not path.exists():
        assert time.time() < deadline, f"{path.name} never appeared"
        time.sleep(0.02)


def burst(folder: Path, k: int) -> None:
    (folder / f"burst-{k}").touch()
    wait_file(folder / f"done-{k}")


def drawn(page: Any, key: str) -> dict[str, float]:
    """What the chart of ``key`` draws now: its point count and x range."""
    return page.locator(CHART.format(key=key)).evaluate(
        "el => ({points: Number(el.dataset.points), xMax: Number(el.dataset.xMax),"
        " xMin: Number(el.dataset.xMin)})")


def wait_drawn(page: Any, key: str, points: int, last_step: int, timeout: float) -> None:
    """Wait until the chart draws ``points`` points up to ``last_step`` (or fail)."""
    page.wait_for_function(
        """([sel, n, last]) => {
          const el = document.querySelector(sel);
          return el && Number(el.dataset.points) === n && Number(el.dataset.xMax) >= last;
        }""", arg=[CHART.format(key=key), points, last_step], timeout=timeout)


def series_requests(page: Any) -> list[str]:
    return page.evaluate("""() => performance.getEntriesByType('resource')
        .map(e => e.name).filter(n => n.includes('/api/v1/ui/series/'))""")


def test_live_charts_draw_new_points_within_3_s_whenever_the_page_was_opened(
        page, demo_server, tmp_path):
    folder = tmp_path / "ctl"
    folder.mkdir()
    env = {**demo_server.env, "PICIDAE_HEARTBEAT_INTERVAL_S": "1", "PICIDAE_SYSTEM_METRICS": "0"}
    proc = subprocess.Popen([sys.executable, "-c", LOGGER, demo_server.url, str(folder)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    pages = [page]
    try:
        wait_file(folder / "id")
        run_id = (folder / "id").read_text()
        url = f"{demo_server.url}/runs/{run_id}"

        # before: the page is open before the run logs anything
        before = page
        before.goto(url)
        before.wait_for_selector('main[data-loaded="1"]')
        before.evaluate("window.__notReloaded = true")
        burst(folder, 0)
        wait_drawn(before, "loss", 25, 24, timeout=3000)

        # during: a second page opened midway draws what is there, then keeps up
        during = page.context.new_page()
        pages.append(during)
        during.goto(url)
        wait_drawn(during, "loss", 25, 24, timeout=10_000)
        for k in (1, 2):
            burst(folder, k)
            for p in (before, during):
                wait_drawn(p, "loss", 25 * (k + 1), 25 * (k + 1) - 1, timeout=3000)
                wait_drawn(p, "acc", 25 * (k + 1), 25 * (k + 1) - 1, timeout=3000)
        shown = drawn(during, "loss")
        assert shown["xMin"] == 0 and shown["xMax"] == 74, shown  # the whole series, drawn

        # the run ends: both pages keep every point, status changes in place
        (folder / "stop").touch()
        assert proc.wait(timeout=30) == 0, proc.stdout.read() if proc.stdout else ""
        for p in (before, during):
            p.wait_for_function(
                "() => document.querySelector('.run-head .badge')?.textContent === 'completed'",
                timeout=10_000)
            assert drawn(p, "loss")["points"] == 75
        assert before.evaluate("window.__notReloaded") is True

        # after: a page opened on the finished run draws everything, each series fetched once
        after = page.context.new_page()
        pages.append(after)
        after.goto(url)
        wait_drawn(after, "loss", 75, 74, timeout=10_000)
        wait_drawn(after, "acc", 75, 74, timeout=10_000)
        after.wait_for_timeout(1500)
        fetched = series_requests(after)
        charts = after.locator("[data-chart]").count()
        assert charts == 2 and len(fetched) == charts, fetched
        assert page.console.take() == []
    finally:
        (folder / "stop").touch()
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
        if proc.stdout:
            proc.stdout.close()
