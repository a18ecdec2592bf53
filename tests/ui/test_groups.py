"""Grouping (group_by=FIELD): each group drawn as a mean line with a ± std band, and its
[data-group] legend entry carrying n and the mean ± std of the group's last values."""

from __future__ import annotations

import statistics
from typing import Any
from urllib.parse import quote

import pytest
from drawing import RECORD_DRAWING


def groups_of(page: Any, key: str) -> dict[str, dict[str, float]]:
    card = page.locator(f'[data-chart][data-key="{key}"][data-drawn="1"]')
    card.wait_for()
    entries = card.locator("[data-group]").evaluate_all(
        "els => els.map(e => [e.dataset.name, Number(e.dataset.n), Number(e.dataset.mean),"
        " Number(e.dataset.std)])")
    return {name: {"n": n, "mean": mean, "std": std} for name, n, mean, std in entries}


def expected(runs: list[dict[str, Any]], field: str, key: str) -> dict[str, dict[str, float]]:
    groups: dict[str, list[float]] = {}
    for run in runs:
        groups.setdefault(repr(run["config"][field]), []).append(run["metrics"][key])
    return {name: {"n": len(v), "mean": statistics.fmean(v),
                   "std": statistics.stdev(v) if len(v) > 1 else 0.0}
            for name, v in groups.items()}


def assert_groups(shown: dict[str, dict[str, float]], truth: dict[str, dict[str, float]]) -> None:
    assert set(shown) == set(truth)
    for name, t in truth.items():
        assert shown[name]["n"] == t["n"]
        assert shown[name]["mean"] == pytest.approx(t["mean"], rel=1e-9)
        assert shown[name]["std"] == pytest.approx(t["std"], rel=1e-9)


def sweep_points(server: Any) -> list[dict[str, Any]]:
    return server.api("/api/v1/runs", name="cv/resnet18-sweep/*")["runs"]


def test_compare_groups_runs_by_a_config_key(page, demo_server):
    runs = sweep_points(demo_server)
    ids = ",".join(r["id"] for r in runs)
    page.goto(f"{demo_server.url}/compare?ids={ids}&group_by=config.lr")
    for key in ("val/acc", "train/loss"):
        assert_groups(groups_of(page, key), expected(runs, "lr", key))
    legend = page.locator('[data-chart][data-key="val/acc"] .u-legend').inner_text()
    assert "0.001 (n=2)" in legend and "0.003 (n=2)" in legend  # the mean lines
    # regroup from the box: the URL follows
    box = page.locator('#charts input[name="group_by"]')
    box.fill("config.batch_size")
    box.press("Enter")
    page.wait_for_function("() => location.search.includes('group_by=config.batch_size')")
    page.wait_for_function("""() => [...document.querySelectorAll(
        '[data-chart][data-key="val/acc"] [data-group]')].map(e => e.dataset.name).join()
        === '64,128'""")
    assert_groups(groups_of(page, "val/acc"), expected(runs, "batch_size", "val/acc"))
    assert page.console.take() == []


def test_a_parents_page_groups_all_its_children(page, demo_server):
    sweep = demo_server.run_named("cv/resnet18-sweep")
    runs = sweep_points(demo_server)
    page.add_init_script(RECORD_DRAWING)
    page.goto(f"{demo_server.url}/runs/{sweep['id']}?group_by=config.batch_size")
    assert_groups(groups_of(page, "val/acc"), expected(runs, "batch_size", "val/acc"))
    # each group's ± std band is filled, in its colour (translucent)
    fills = page.evaluate("window.__draws.filter(d => d.op === 'fill' && d.chart === 'val/acc')"
                          ".map(d => d.fill)")
    colours = page.locator('[data-chart][data-key="val/acc"] [data-group] .swatch').evaluate_all(
        "els => els.map(e => getComputedStyle(e).backgroundColor)")
    for colour in colours:  # rgb(r, g, b) → rgba(r, g, b, 0.18)
        assert colour.replace("rgb(", "rgba(").replace(")", ", 0.18)") in fills, (colour, fills)
    assert page.console.take() == []


def test_runs_table_groups_by_a_config_key(page, demo_server):
    runs = sweep_points(demo_server)
    where = quote('kind = "sweep-point"')
    page.goto(f"{demo_server.url}/?where={where}&group_by=config.lr")
    page.wait_for_selector("tr.group-row[data-group]")
    rows = page.locator("tr.group-row[data-group]").evaluate_all(
        "rows => rows.map(r => [r.dataset.name, Number(r.dataset.n), Number(r.dataset.mean),"
        " Number(r.dataset.std)])")
    by_lr: dict[str, list[float]] = {}
    for run in runs:
        by_lr.setdefault(repr(run["config"]["lr"]), []).append(run["primary_metric"]["best"])
    assert [r[0] for r in rows] == ["0.001", "0.003"]
    for name, n, mean, std in rows:
        assert n == len(by_lr[name])
        assert mean == pytest.approx(statistics.fmean(by_lr[name]))
        assert std == pytest.approx(statistics.stdev(by_lr[name]))
    # each group's runs follow its header
    names = page.locator("table.runs tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.group !== undefined ? '#' + r.dataset.name"
        " : r.dataset.name)")
    assert names[0] == "#0.001" and names[3] == "#0.003"
    assert all("lr=0.001" in n for n in names[1:3])
    assert page.console.take() == []


def test_sweep_analysis_plots_every_run_against_a_config_key(page, demo_server):
    from drawing import RECORD_DRAWING as record

    runs = sweep_points(demo_server)
    page.add_init_script(record)
    page.goto(f"{demo_server.url}/compare?ids={','.join(r['id'] for r in runs)}")
    scatter = page.locator('#sweep [data-chart="scatter"]')
    scatter.wait_for()
    assert scatter.get_attribute("data-key") == "val/acc"  # the primary metric by default
    assert scatter.get_attribute("data-points") == "4"
    page.select_option('#sweep select[aria-label="Config key"]', "lr")
    page.wait_for_selector('#sweep [data-chart="scatter"][data-x-key="lr"]')
    shown = page.locator('#sweep [data-chart="scatter"] li').all_inner_texts()
    for run in runs:
        assert any(run["name"] in line and f"→ {run['metrics']['val/acc']:.4g}"[:8] in line
                   for line in shown), (run["name"], shown)
    texts = page.evaluate("window.__draws.filter(d => d.op === 'text').map(d => d.text)")
    assert "lr" in texts and "batch_size" in texts  # the axes are labelled
    parallel = page.locator('#sweep [data-chart="parallel"]')
    assert parallel.get_attribute("data-keys") == "batch_size,lr"
    assert parallel.get_attribute("data-points") == "4"
    assert page.console.take() == []
