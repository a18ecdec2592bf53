"""Live pages: a run logging from a background process shows up and updates without reloads."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from typing import Any

LOGGER = textwrap.dedent("""
    import os, sys, time
    import picidae

    store, stop = sys.argv[1], sys.argv[2]
    run = picidae.init("live/background", store=store, config={"lr": 0.1}, tags=["live"])
    run.set_primary_metric("acc")
    step = 0
    while not os.path.exists(stop) and step < 1200:
        run.log(loss=1.0 / (step + 1), acc=step / 1200, stage="train")
        run.log_text(f"tick {step}")
        step += 1
        time.sleep(0.05)
    run.finish()
""")


def points_shown(page: Any, key: str) -> int:
    note = page.locator(f'.chart-card[data-key="{key}"] .chart-note').inner_text()
    return int(re.findall(r"[\d,]+", note)[-1].replace(",", ""))


def test_a_run_logging_in_a_background_process_updates_the_open_pages(page, demo_server,
                                                                       tmp_path):
    stop = tmp_path / "stop"
    page.goto(demo_server.url + "/")
    page.wait_for_selector("table.runs tbody tr")
    page.evaluate("window.__notReloaded = true")
    env = {**demo_server.env, "PICIDAE_FLUSH_INTERVAL_S": "0.2",
           "PICIDAE_HEARTBEAT_INTERVAL_S": "1"}
    proc = subprocess.Popen([sys.executable, "-c", LOGGER, demo_server.url, str(stop)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        # the runs page shows the new run as it appears
        row = page.locator('tr[data-name="live/background"]')
        row.wait_for(timeout=20_000)
        assert row.locator(".badge").inner_text() == "running"
        assert page.evaluate("window.__notReloaded") is True

        # its page draws the points so far, then keeps up with new points and log lines
        row.locator("a").click()
        page.wait_for_selector('.chart-card[data-key="loss"][data-drawn="1"]')
        page.evaluate("window.__notReloaded = true")
        first_points = points_shown(page, "loss")
        page.wait_for_selector("#log .line")
        first_lines = page.locator("#log .line").count()
        page.wait_for_function(
            f"() => document.querySelectorAll('#log .line').length > {first_lines + 10}",
            timeout=20_000)
        page.wait_for_function(
            """([n]) => {
              const note = document.querySelector('.chart-card[data-key="loss"] .chart-note');
              const nums = (note?.textContent.match(/[\\d,]+/g) || []).map(
                (s) => Number(s.replace(/,/g, "")));
              return nums.length && nums[nums.length - 1] > n;
            }""", arg=[first_points], timeout=20_000)
        assert "tick" in page.locator("#log .line").last.inner_text()
        assert page.locator(".run-head .badge").first.inner_text() == "running"

        # the run ends: status and timeline change in place
        stop.write_text("")
        assert proc.wait(timeout=30) == 0, proc.stdout.read() if proc.stdout else ""
        page.wait_for_function(
            "() => document.querySelector('.run-head .badge')?.textContent === 'completed'",
            timeout=20_000)
        assert "completed" in page.locator("#timeline li").last.inner_text()
        assert page.evaluate("window.__notReloaded") is True
        assert page.console.take() == []
    finally:
        stop.write_text("")
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
        if proc.stdout:
            proc.stdout.close()
