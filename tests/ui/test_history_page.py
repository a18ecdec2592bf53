"""The history page's charts have axes and values: counts on the runs-per-period bars against
a y axis, and each period's failure rate written at its point."""

from __future__ import annotations

from drawing import RECORD_DRAWING


def test_history_charts_show_axes_and_the_values_the_api_counts(page, demo_server):
    data = demo_server.api("/api/v1/ui/history", days=14)
    page.add_init_script(RECORD_DRAWING)
    page.goto(f"{demo_server.url}/history")
    page.wait_for_selector(".bars .col")
    totals = [sum(b["counts"].values()) for b in data["buckets"]]
    shown = page.locator(".bars .col").evaluate_all(
        "cols => cols.map(c => c.querySelector('.n')?.textContent ?? '')")
    assert shown == [str(t) if t else "" for t in totals]
    ticks = [int(t) for t in page.locator(".bars-y span").all_inner_texts()]
    assert ticks[0] == 0 and ticks[-1] >= max(totals) and ticks == sorted(ticks)
    # bars are as tall as their counts on that axis
    heights = page.locator(".bars .bar").evaluate_all(
        "bars => bars.map(b => b.getBoundingClientRect().height)")
    tallest = totals.index(max(totals))
    for total, height in zip(totals, heights, strict=True):
        assert abs(height - heights[tallest] * total / max(totals)) < 1.5
    # the failure-rate chart: a % axis and each period's value at its point
    page.wait_for_function("() => window.__draws.some(d => d.op === 'text' && d.text === '50%')")
    texts = set(page.evaluate("window.__draws.filter(d => d.op === 'text').map(d => d.text)"))
    rates = [b["failure_rate"] for b in data["buckets"] if b["failure_rate"] is not None]
    assert rates and all(f"{round(r * 100, 1):g}%" in texts for r in rates), texts
    assert page.console.take() == []
