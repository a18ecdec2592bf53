"""The runs table's sparklines, column sets in the link and name tree, as a user sees them."""

from __future__ import annotations

import re
import time
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from conftest import DemoServer


def _run_with_series(url: str, name: str, values: list[float]) -> dict[str, Any]:
    run = httpx.post(f"{url}/api/v1/runs", json={
        "name": name, "status": "running",
        "primary_metric": {"name": "acc", "mode": "max"}}).json()
    now = time.time()
    points = [{"key": "acc", "value": v, "step": i, "time": now + i}
              for i, v in enumerate(values)]
    for lo in range(0, len(points), 5000):
        httpx.post(f"{url}/api/v1/runs/{run['id']}/metrics",
                   json={"points": points[lo:lo + 5000]}, timeout=30).raise_for_status()
    httpx.post(f"{url}/api/v1/runs/{run['id']}/transitions", json={"to": "completed"})
    return dict(run)


def _spark(page: Any, name: str) -> Any:
    return page.locator(f'tr[data-name="{name}"] td[data-col="primary"] svg[data-sparkline]')


@pytest.fixture(scope="module")
def own_demo(tmp_path_factory: pytest.TempPathFactory, demo_server: Any) -> Any:
    """A demo store of its own: the runs these tests add (with a primary metric of their own,
    which the best-run order would rank) stay out of the shared one."""
    server = DemoServer(tmp_path_factory.mktemp("sparklines")).start()
    yield server
    server.stop()


def test_sparklines_draw_each_runs_primary_metric_from_one_request(page, own_demo):
    demo_server = own_demo
    _run_with_series(demo_server.url, "spark/short", [i / 30 for i in range(30)])
    long = [0.5] * 20_000
    long[7_777] = 3.0  # a spike the sparkline keeps
    _run_with_series(demo_server.url, "spark/long", long)
    asked: list[str] = []
    page.on("request", lambda r: asked.append(r.url) if "/ui/sparklines" in r.url else None)
    page.goto(demo_server.url + "/?where=" + quote('name like "spark/%"'))
    _spark(page, "spark/long").wait_for()
    _spark(page, "spark/short").wait_for()
    assert _spark(page, "spark/short").get_attribute("data-points") == "30"
    assert _spark(page, "spark/short").get_attribute("data-sparkline") == "acc"
    drawn = int(_spark(page, "spark/long").get_attribute("data-points"))
    assert 4 <= drawn <= 40
    # the spike is the top of the line: one point at y≈1 (the svg's top edge), the rest flat
    ys = [float(p.split(",")[1]) for p in _spark(page, "spark/long").locator(
        "polyline").get_attribute("points").split()]
    assert min(ys) < 3 and sum(1 for y in ys if y < 3) == 1
    assert len(asked) == 1, asked  # one batched request for the page, not one per row

    # the demo's runs (a page of many) get theirs from one request too
    asked.clear()
    page.goto(demo_server.url + "/?top=0")
    page.wait_for_selector("svg[data-sparkline]")
    assert page.locator("svg[data-sparkline]").count() > 5
    assert len(asked) == 1, asked
    assert page.console.take() == []


def test_columns_survive_a_reload_in_the_link(page, demo_server):
    page.goto(demo_server.url + "/?cols=config.lr,id")
    page.wait_for_selector('th[data-col="config.lr"]')
    page.reload()
    page.wait_for_selector('th[data-col="config.lr"]')
    assert page.locator('th[data-col="id"]').count() == 1
    page.fill(".columns-editor input", "tags")
    page.press(".columns-editor input", "Enter")
    page.wait_for_url(re.compile(r"cols=config\.lr%2Cid%2Ctags|cols=config\.lr,id,tags"))
    link = page.url
    fresh = page.context.new_page()  # the link alone (a new tab) brings the same columns
    fresh.goto(link)
    fresh.wait_for_selector('th[data-col="tags"]')
    headers = fresh.locator("th[data-col]").evaluate_all("els => els.map(e => e.dataset.col)")
    assert headers[-3:] == ["config.lr", "id", "tags"]
    fresh.close()
    assert page.console.take() == []


def test_the_name_tree_narrows_the_rows_by_prefix(page, demo_server):
    page.goto(demo_server.url + "/")
    page.wait_for_selector("[data-name-tree] a[data-prefix='cv']")
    all_rows = page.locator('table.runs tbody tr[data-depth="0"]').count()
    page.click("[data-name-tree] a[data-prefix='cv']")
    page.wait_for_url(re.compile(r"prefix=cv"))
    expected = demo_server.api("/api/v1/runs", where='parent_id is null and name like "cv/%"',
                               limit=500)["runs"]
    page.wait_for_function(
        "(n) => document.querySelectorAll('table.runs tbody tr[data-depth=\"0\"]').length === n",
        arg=len(expected))
    names = page.locator('table.runs tbody tr[data-depth="0"]').evaluate_all(
        "rows => rows.map(r => r.dataset.name)")
    assert 0 < len(names) < all_rows
    assert all(n.startswith("cv/") for n in names)
    assert sorted(names) == sorted(r["name"] for r in expected)
    # the count beside the node is the number of runs under it
    assert page.locator("[data-name-tree] a[data-prefix='cv'] .n").inner_text() == str(len(names))
    # the link keeps it; "All names" goes back
    page.reload()
    page.wait_for_function(
        "(n) => document.querySelectorAll('table.runs tbody tr[data-depth=\"0\"]').length === n",
        arg=len(expected))
    page.click("[data-name-tree] a[data-prefix='']")
    page.wait_for_function(
        "(n) => document.querySelectorAll('table.runs tbody tr[data-depth=\"0\"]').length === n",
        arg=all_rows)
    assert "prefix=" not in page.url
    assert page.console.take() == []
