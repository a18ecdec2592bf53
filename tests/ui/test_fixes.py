"""Browser tests of issue 16's defects: sorting, parents' aggregates, band labels, "One
chart" axes, compare legends. Each asserts what a user sees."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

from drawing import RECORD_DRAWING

STAGES = {"warmup", "train", "anneal", "eval"}


def runs_table(page: Any) -> list[str]:
    return page.locator('table.runs tbody tr[data-depth="0"]').evaluate_all(
        "rows => rows.map(r => r.dataset.name)")


def test_primary_metric_header_sorts_every_run_best_first_on_the_server(page, demo_server):
    page.goto(demo_server.url + "/")
    page.wait_for_selector("table.runs tbody tr")
    header = page.locator('th[data-col="primary"]')
    box = header.bounding_box()
    # the whole header cell sorts: click its padding, right of the text
    page.mouse.click(box["x"] + box["width"] - 3, box["y"] + box["height"] / 2)
    page.wait_for_url(re.compile(r"order_by=best"))
    expected = [r["name"] for r in demo_server.api(
        "/api/v1/runs", order_by="best", where="parent_id is null")["runs"]]
    page.wait_for_function("(names) => JSON.stringify([...document.querySelectorAll("
                           "'table.runs tbody tr[data-depth=\"0\"]')].map(r => r.dataset.name))"
                           " === JSON.stringify(names)", arg=expected)
    assert expected[:3] == ["lm/gpt-small-pretrain", "confidence-reweighting",
                            "cv/resnet18-sweep"]  # eval/loss, pgr, val/acc: each one's best
    assert header.get_attribute("aria-sort") == "descending"
    # the link opens sorted
    page.goto(demo_server.url + "/?order_by=best")
    page.wait_for_selector("table.runs tbody tr")
    assert runs_table(page) == expected
    # another header sorts by clicking outside its text too
    name = page.locator('th[data-col="name"]')
    nb = name.bounding_box()
    page.mouse.click(nb["x"] + nb["width"] - 3, nb["y"] + nb["height"] / 2)
    page.wait_for_url(re.compile(r"order_by=name"))
    assert page.console.take() == []


def test_a_sweep_shows_its_best_point_and_phases_show_no_single_child_aggregates(page,
                                                                                 demo_server):
    sweep = demo_server.run_named("cv/resnet18-sweep")
    points = demo_server.api("/api/v1/runs", parent=sweep["id"])["runs"]
    best = max(p["primary_metric"]["best"] for p in points)
    page.goto(demo_server.url + "/")
    page.wait_for_selector("table.runs tbody tr")
    cell = page.locator('tr[data-name="cv/resnet18-sweep"] td[data-col="primary"]')
    page.wait_for_function("() => document.querySelector("
                           "'tr[data-name=\"cv/resnet18-sweep\"] td[data-col=\"primary\"]')"
                           ".textContent.match(/\\d/)")
    text = cell.inner_text()
    assert "±" not in text and f"{best:.4g}"[:5] in text, text
    # seeds keep their mean ± std
    w2s = page.locator('tr[data-name="confidence-reweighting"] td[data-col="primary"]')
    page.wait_for_function("() => document.querySelector("
                           "'tr[data-name=\"confidence-reweighting\"] td[data-col=\"primary\"]')"
                           ".textContent.includes('±')")
    assert "±" in w2s.inner_text()

    # a parent of three phases: no n=1 "aggregates"
    autogo = demo_server.run_named("autogo-iteration-17")
    page.click('tr[data-name="autogo-iteration-17"] button.expander')
    summary = page.locator(f'tr.stats-row[data-parent="{autogo["id"]}"]')
    summary.wait_for()
    assert "n=1" not in summary.inner_text() and "±" not in summary.inner_text()
    assert "Across 3 children" in summary.inner_text()

    # its page lists every child's metrics, past the fourth (the arena's win_rate)
    page.goto(f"{demo_server.url}/runs/{autogo['id']}")
    page.wait_for_selector("#children table")
    heads = page.locator("#children thead th").all_inner_texts()
    assert {"win_rate", "games_played", "loss", "value_loss"} <= set(heads), heads
    # each key belongs to one phase: nothing to aggregate, so no mean ± std row
    assert "±" not in page.locator("#children").inner_text()
    arena = page.locator('#children tbody tr', has_text="arena-evaluation")
    col = heads.index("win_rate")
    assert arena.locator("td").nth(col).inner_text() not in ("", "—")
    assert page.console.take() == []


def test_stage_labels_start_at_their_band_and_one_chart_has_an_axis_per_scale(page,
                                                                              demo_server):
    run = demo_server.run_named("lm/gpt-small-pretrain")
    page.add_init_script(RECORD_DRAWING)
    page.goto(f"{demo_server.url}/runs/{run['id']}")
    page.wait_for_selector('[data-chart][data-key="loss"][data-drawn="1"]')
    # a redraw on the same canvas (here: a zoom) draws the labels again, after the axes' text
    page.evaluate("window.__draws = []")
    over = page.locator('[data-chart][data-key="loss"] .u-over').bounding_box()
    y = over["y"] + over["height"] / 2
    page.mouse.move(over["x"] + over["width"] * 0.3, y)
    page.mouse.down()
    page.mouse.move(over["x"] + over["width"] * 0.95, y, steps=5)
    page.mouse.up()
    page.wait_for_function("() => window.__draws.some(d => d.chart === 'loss' && d.op === 'text'"
                           " && ['train', 'anneal'].includes(d.text))")
    draws = page.evaluate("window.__draws.filter(d => d.chart === 'loss')")
    labels = 0
    for i, d in enumerate(draws):
        if d["op"] == "text" and d["text"] in STAGES:
            band = next(r for r in reversed(draws[:i]) if r["op"] == "rect")
            # the label starts inside its band, at its left edge (not ending there)
            assert band["left"] <= d["left"] <= band["left"] + 12, (d, band)
            assert d["right"] <= band["right"], (d, band)
            labels += 1
    assert labels >= 2  # warmup is narrow; train and anneal are labelled

    page.evaluate("window.__draws = []")
    page.check('label:has-text("One chart") input')
    wide = page.locator('.chart-card.wide[data-chart][data-drawn="1"]')
    wide.wait_for()
    key = wide.get_attribute("data-key")
    assert sorted(key.split(",")) == ["eval/loss", "grad_norm", "loss", "lr"]
    texts = page.evaluate("(key) => window.__draws.filter(d => d.op === 'text' && "
                          "d.chart === key).map(d => d.text)", key)
    # lr (~6e-4) gets its own axis, so its ticks are readable next to loss's (~3–10)
    assert any(re.fullmatch(r"\d(\.\d+)?e-4", t) for t in texts), texts
    assert any(t in ("4", "6", "8", "10") for t in texts), texts
    # stage bands of every series: eval (eval/loss's stage) and train (the others')
    assert "eval" in texts and "train" in texts, texts
    assert page.console.take() == []


def test_compare_legends_name_what_differs(page, demo_server):
    runs = demo_server.api("/api/v1/runs", name="cv/resnet18-sweep/*")["runs"]
    page.goto(f"{demo_server.url}/compare?ids={','.join(r['id'] for r in runs)}")
    card = page.locator('#charts [data-chart][data-key="val/acc"][data-drawn="1"]')
    card.wait_for()
    legend = card.locator(".u-legend").inner_text()
    assert "lr=0.001,bs=64" in legend and "cv/resnet18-sweep/" not in legend
    assert page.console.take() == []


def test_runs_page_rows_carry_their_run_id(page, demo_server):
    page.goto(demo_server.url + "/?where=" + quote('tags contains "sweep"'))
    page.wait_for_selector("table.runs tbody tr[data-run-id]")
    ids = page.locator("[data-run-id]").evaluate_all("rows => rows.map(r => r.dataset.runId)")
    assert ids == [r["id"] for r in demo_server.api("/api/v1/runs", tag="sweep")["runs"]]
    assert page.console.take() == []
