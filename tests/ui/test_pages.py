"""The four pages in Chromium over the demo store: runs, run, compare, history."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

DEMO_ROOTS = {"lm/gpt-small-pretrain", "cv/resnet18-sweep", "nlp/bert-large-finetune",
              "confidence-reweighting", "rl/ppo-cartpole", "autogo-iteration-17",
              "cv/vit-base-pretrain"}

# Pixels of a chart's first series (#2563eb), opaque: the line itself, not grid or bands.
COUNT_SERIES_PIXELS = """(canvas) => {
  const d = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  let ink = 0, line = 0;
  for (let i = 0; i < d.length; i += 4) {
    if (d[i + 3] > 0) ink++;
    if (d[i + 3] > 200 && Math.abs(d[i] - 37) < 40 && Math.abs(d[i + 1] - 99) < 40
        && Math.abs(d[i + 2] - 235) < 40) line++;
  }
  return {ink, line};
}"""


def js_num(value: float, digits: int = 4) -> str:
    """A number as the UI prints it (a mean to four significant digits, a spread to two)."""
    return repr(float(f"{value:.{digits}g}"))


def row_names(page: Any, depth: int = 0) -> list[str]:
    return page.locator(f'table.runs tbody tr[data-id][data-depth="{depth}"]').evaluate_all(
        "rows => rows.map(r => r.dataset.name)")


def open_runs(page: Any, server: Any, query: str = "") -> None:
    page.goto(f"{server.url}/{query}")
    page.wait_for_selector("table.runs tbody tr, .empty")


def test_runs_page_lists_the_demo_runs(page, demo_server):
    open_runs(page, demo_server)
    assert set(row_names(page)) >= DEMO_ROOTS
    crashed = page.locator('tr[data-name="nlp/bert-large-finetune"]')
    assert crashed.locator(".badge").inner_text() == "failed"
    # status facets count the listed (top-level) runs
    completed = demo_server.api("/api/v1/runs", status="completed", where="parent_id is null",
                                with_total="true")["total"]
    assert page.locator('.facet[data-status="completed"] .n').inner_text() == str(completed)
    assert page.locator("th", has_text="Primary metric").count() == 1
    assert page.console.take() == []


def test_a_filter_narrows_the_runs_and_opens_from_the_url(page, demo_server):
    open_runs(page, demo_server)
    page.fill('input[name="where"]', "config.lr = 0.003")
    page.press('input[name="where"]', "Enter")
    page.wait_for_function(
        "() => [...document.querySelectorAll('table.runs tbody tr')].length === 2")
    assert sorted(row_names(page)) == ["cv/resnet18-sweep/lr=0.003,bs=128",
                                       "cv/resnet18-sweep/lr=0.003,bs=64"]
    assert "where=config.lr" in page.url
    # the same filter pasted as a link opens filtered
    open_runs(page, demo_server, "?where=" + quote('tags contains "w2s"'))
    assert row_names(page) == ["confidence-reweighting"]
    assert page.input_value('input[name="where"]') == 'tags contains "w2s"'
    assert page.console.take() == []


def test_a_bad_filter_shows_its_error_inline(page, demo_server):
    open_runs(page, demo_server)
    page.fill('input[name="where"]', "config.lr ===")
    page.press('input[name="where"]', "Enter")
    error = page.locator("#filter-error")
    error.wait_for(state="visible")
    assert "column" in error.inner_text()
    assert page.get_attribute('input[name="where"]', "aria-invalid") == "true"
    # the only console noise is the browser reporting the API's 422 answer
    assert all("422" in e for e in page.console.take())
    page.fill('input[name="where"]', "")
    page.press('input[name="where"]', "Enter")
    error.wait_for(state="hidden")


def test_expanding_the_w2s_parent_shows_five_seeds_and_mean_std(page, demo_server):
    parent = demo_server.run_named("confidence-reweighting")
    stats = demo_server.api(f"/api/v1/runs/{parent['id']}/children_stats")
    assert stats["children"] == 5 and stats["stats"]["pgr"]["n"] == 5
    open_runs(page, demo_server)
    page.click('tr[data-name="confidence-reweighting"] button.expander')
    summary = page.locator(f'tr.stats-row[data-parent="{parent["id"]}"]')
    summary.wait_for()
    assert row_names(page, depth=1) == [f"confidence-reweighting/seed-{s}"
                                        for s in range(42, 47)]
    text = summary.inner_text()
    pgr = stats["stats"]["pgr"]
    assert "Across 5 children" in text
    assert f"pgr {js_num(pgr['mean'])} ± {js_num(pgr['std'], 2)}" in text
    # the parent's primary-metric cell shows the same aggregate
    cell = page.locator('tr[data-name="confidence-reweighting"] td[data-col="primary"]')
    assert "±" in cell.inner_text()
    page.click('tr[data-name="confidence-reweighting"] button.expander')
    assert row_names(page, depth=1) == []
    assert page.console.take() == []


def test_runs_sort_by_a_column_and_add_a_config_column(page, demo_server):
    open_runs(page, demo_server)
    page.click('th button.sort:has-text("Name")')
    page.wait_for_url(re.compile(r"order_by=name"))
    page.wait_for_function("() => document.querySelector('table.runs tbody tr')"
                           "?.dataset.name === 'autogo-iteration-17'")
    page.fill('.columns-editor input', "config.lr")
    page.press('.columns-editor input', "Enter")
    page.locator("th", has_text="config.lr").wait_for()
    cell = page.locator('tr[data-name="lm/gpt-small-pretrain"] td').last
    assert cell.inner_text() == "6e-4"
    assert page.console.take() == []


def test_run_page_shows_a_drawn_chart_the_timeline_and_the_log(page, demo_server):
    run = demo_server.run_named("lm/gpt-small-pretrain")
    page.goto(f"{demo_server.url}/runs/{run['id']}")
    page.wait_for_selector('.chart-card[data-drawn="1"] canvas')
    card = page.locator('.chart-card[data-key="loss"]')
    card.locator("canvas").first.wait_for()
    pixels = card.locator("canvas").first.evaluate(COUNT_SERIES_PIXELS)
    assert pixels["ink"] > 5000 and pixels["line"] > 200, pixels
    assert "of 6,000 points" in card.locator(".chart-note").inner_text()  # downsampled
    timeline = page.locator("#timeline li")
    assert timeline.count() == 3  # created, queued → running, running → completed
    assert "running → " in timeline.nth(2).inner_text()
    assert "by sdk" in timeline.nth(2).inner_text()
    log = page.locator("#log .line")
    assert log.count() == 12
    assert "step 0: loss falling" in log.first.inner_text()
    assert page.locator('#details [data-section="config"]').inner_text().count("\n") >= 6
    assert page.console.take() == []


def test_run_level_times_arrive_as_iso_strings_and_show_as_times(page, demo_server):
    run = demo_server.run_named("lm/gpt-small-pretrain")
    full = demo_server.api(f"/api/v1/runs/{run['id']}")
    iso = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6,}Z"
    assert re.fullmatch(iso, run["created_at"]) and re.fullmatch(iso, full["ended_at"])
    assert all(re.fullmatch(iso, t["at"]) for t in full["transitions"])
    page.goto(f"{demo_server.url}/runs/{run['id']}")
    page.wait_for_selector("#timeline li time")
    shown = page.locator("#timeline li time").evaluate_all(
        "els => els.map(e => e.getAttribute('datetime'))")
    # the browser's toISOString() keeps milliseconds: the same instants, to the millisecond
    assert [s[:23] for s in shown] == [t["at"][:23] for t in full["transitions"]]
    when = page.locator("#timeline li").first.locator(".when").inner_text()
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", when), when
    assert "+" in page.locator("#timeline li").nth(2).inner_text()  # +duration since created
    assert page.console.take() == []


def test_run_page_chart_controls_switch_axis_scale_and_smoothing(page, demo_server):
    run = demo_server.run_named("lm/gpt-small-pretrain")
    page.goto(f"{demo_server.url}/runs/{run['id']}")
    page.wait_for_selector('.chart-card[data-key="loss"][data-drawn="1"]')
    page.select_option('select[aria-label="X axis"]', "relative")
    page.select_option('select[aria-label="Y scale"]', "log")
    page.locator('input[aria-label="Smoothing"]').fill("0.9")
    page.check('label:has-text("One chart") input')
    page.wait_for_selector('.chart-card.wide[data-drawn="1"]')
    legend = page.locator(".chart-card.wide .u-legend").inner_text()
    assert "loss (raw)" in legend and "grad_norm" in legend
    assert page.console.take() == []


def test_compare_page_shows_the_config_difference_of_two_sweep_points(page, demo_server):
    a = demo_server.run_named("cv/resnet18-sweep/lr=0.001,bs=64")
    b = demo_server.run_named("cv/resnet18-sweep/lr=0.003,bs=64")
    page.goto(f"{demo_server.url}/compare?ids={a['id']},{b['id']}")
    page.wait_for_selector("#diff table")
    lr = page.locator('#diff tr[data-section="config"][data-key="lr"]')
    assert lr.locator("td").all_inner_texts() == ["lr", "0.001", "0.003"]
    # only differences by default: the shared batch size is hidden until asked for
    batch = page.locator('#diff tr[data-section="config"][data-key="batch_size"]')
    assert batch.count() == 0
    page.check('#diff label:has-text("Show all") input')
    batch.wait_for()
    assert batch.locator("td").all_inner_texts() == ["batch_size", "64", "64"]
    page.wait_for_selector('#charts .chart-card[data-key="val/acc"][data-drawn="1"]')
    legend = page.locator('#charts .chart-card[data-key="val/acc"] .u-legend').inner_text()
    assert "lr=0.001,bs=64" in legend and "lr=0.003,bs=64" in legend
    assert page.console.take() == []


def test_history_page_shows_status_totals_failure_rate_and_durations(page, demo_server):
    page.goto(f"{demo_server.url}/history")
    page.wait_for_selector(".cards")
    cards = page.locator(".card").all_inner_texts()
    assert any(c.startswith("Failure rate") and "1 failed" in c for c in cards)
    assert page.locator(".bars .bar").count() >= 14
    assert "nlp/bert-large-finetune" in page.locator("table.grid").inner_text()
    assert page.console.take() == []


def test_no_console_errors_on_any_page_in_either_theme(page, demo_server):
    runs = demo_server.api("/api/v1/runs", tag="demo", limit=100)["runs"]
    sweep = [r["id"] for r in runs if r["name"].startswith("cv/resnet18-sweep/")]
    paths = ["/", "/history", "/compare", f"/compare?ids={','.join(sweep)}",
             "/runs/no-such-run", *[f"/runs/{r['id']}" for r in runs]]
    for theme in ("light", "dark"):
        page.emulate_media(color_scheme=theme)
        for path in paths:
            page.goto(demo_server.url + path)
            page.wait_for_selector('main[data-loaded="1"]')
            page.wait_for_timeout(150)
            errors = page.console.take()
            if path == "/runs/no-such-run":  # the browser logs the API's 404 for it
                assert all("404" in e for e in errors), errors
                assert "No such run" in page.inner_text("main")
            else:
                assert errors == [], (theme, path, errors)
            assert page.evaluate("document.documentElement.dataset.theme") == theme


def test_theme_toggle_and_keyboard_reach_the_filter(page, demo_server):
    open_runs(page, demo_server)
    assert page.evaluate("document.documentElement.dataset.theme") == "light"
    page.click("#theme-toggle")
    assert page.evaluate("document.documentElement.dataset.theme") == "dark"
    page.reload()
    page.wait_for_selector("table.runs tbody tr")
    assert page.evaluate("document.documentElement.dataset.theme") == "dark"
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.name") == "where"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Filter"
    page.click("#theme-toggle")
    assert page.console.take() == []


def test_selecting_runs_opens_compare(page, demo_server):
    open_runs(page, demo_server)
    page.check('tr[data-name="rl/ppo-cartpole"] input[type="checkbox"]')
    page.check('tr[data-name="nlp/bert-large-finetune"] input[type="checkbox"]')
    page.click("button:has-text('Compare 2 selected')")
    page.wait_for_selector("#diff table")
    assert "/compare?ids=" in page.url
    assert page.locator("h1").inner_text() == "Compare 2 runs"
    assert page.console.take() == []


def test_dragging_zooms_into_a_series_at_full_detail(page, demo_server):
    run = demo_server.run_named("lm/gpt-small-pretrain")
    page.goto(f"{demo_server.url}/runs/{run['id']}")
    card = page.locator('.chart-card[data-key="loss"][data-drawn="1"]')
    card.wait_for()
    before = card.locator(".chart-note").inner_text()
    box = card.locator(".u-over").bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.40, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.45, y, steps=5)
    page.mouse.up()
    # the window is fetched again (lo/hi) at full detail: every point in it, none dropped
    page.wait_for_function("""() => performance.getEntriesByType('resource')
        .some(e => e.name.includes('/loss?') && e.name.includes('lo='))""")
    page.wait_for_function(f"""() => document.querySelector(
        '.chart-card[data-key="loss"] .chart-note').textContent !== {before!r}""")
    shown = int(card.locator(".chart-note").inner_text().split(" of ")[0].replace(",", ""))
    assert 100 < shown < 588
    card.locator("button", has_text="Reset zoom").click()
    page.wait_for_function(f"""() => document.querySelector(
        '.chart-card[data-key="loss"] .chart-note').textContent === {before!r}""")
    assert page.console.take() == []


def test_the_log_search_highlights_matches_and_jumps_between_them(page, demo_server):
    run = demo_server.run_named("lm/gpt-small-pretrain")
    page.goto(f"{demo_server.url}/runs/{run['id']}")
    page.wait_for_selector("#log .line")
    search = page.locator('input[name="log-search"]')
    search.fill("step 1")  # step 1000, 1500, ... : "step 1..." lines
    matches = page.locator("#log .line.match")
    expected = [t for t in page.locator("#log .line .text").all_inner_texts() if "step 1" in t]
    assert matches.count() == len(expected) > 1
    current = page.locator("#log .line.current")
    assert current.inner_text().endswith(expected[0])
    search.press("Enter")
    assert current.inner_text().endswith(expected[1])
    assert page.locator("#log-panel [role=status]").inner_text() == f"2 of {len(expected)}"
    search.press("Shift+Enter")
    assert current.inner_text().endswith(expected[0])
    search.fill("")
    assert matches.count() == 0
    assert page.console.take() == []


def test_system_metrics_chart_in_their_own_section(page, demo_server, monkeypatch):
    import picidae

    monkeypatch.setenv("PICIDAE_SYSTEM_METRICS", "0")  # only the values logged here
    with picidae.init("sys/sampled", store=demo_server.store) as run:
        for step in range(20):
            run.log({"loss": 1 / (step + 1), "system/cpu_percent": 40 + step,
                     "system/memory_mb": 900 + step}, step=step)
    page.goto(f"{demo_server.url}/runs/{run.id}")
    page.wait_for_selector('#system [data-chart][data-key="system/cpu_percent"][data-drawn="1"]')
    assert page.locator("#system [data-chart]").evaluate_all(
        "els => els.map(e => e.dataset.key)") == ["system/cpu_percent", "system/memory_mb"]
    assert page.locator("#system [data-chart]").first.get_attribute("data-points") == "20"
    assert page.locator("#metrics [data-chart]").evaluate_all(
        "els => els.map(e => e.dataset.key)") == ["loss"]
    assert page.console.take() == []


def test_id_and_tags_columns(page, demo_server):
    open_runs(page, demo_server, "?cols=id,tags")
    row = page.locator('tr[data-name="confidence-reweighting"]')
    run = demo_server.run_named("confidence-reweighting")
    assert row.locator('td[data-col="id"]').inner_text() == run["id"][:8]
    assert row.locator('td[data-col="tags"] a.tag').all_inner_texts() == run["tags"]
    page.click('tr[data-name="confidence-reweighting"] td[data-col="tags"] a.tag >> nth=0')
    page.wait_for_url(re.compile(r"where=tags"))
    assert page.console.take() == []
