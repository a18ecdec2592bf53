"""A sweep's page: its trials ranked by value, the value over trials and parallel coordinates
of the parameters against the value."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import picidae
from conftest import child_env
from processes import ServerProcess

pytest.importorskip("optuna")


def _sweep(store_url: str) -> tuple[str, list[tuple[str, float | None]]]:
    """A sweep parent with five trials (four completed, one pruned), as a controller makes."""
    from picidae.executor.sweep import create
    from picidae.store.base import Batch
    from picidae.store.registry import open_store

    store = open_store(store_url)
    parent = create(store, ["python", "objective.py"], {"x": "uniform:0:1", "y": "choice:a,b"},
                    metric="score", mode="max", name="ui/sweep", trials=6)
    made: list[tuple[str, float | None]] = []
    for n, (x, y, score) in enumerate([(0.2, "a", 0.5), (0.9, "b", 0.95), (0.5, "a", 0.7),
                                       (0.1, "b", 0.1), (0.7, "a", 0.8)], start=1):
        run = picidae.init(f"ui/sweep/trial-{n}", parent=parent["id"], kind="sweep-point",
                           trigger="policy", config={"x": x, "y": y}, store=store_url)
        run.log(score=score)
        if n == 4:
            run.finish(status="canceled")
            made.append((run.id, None))
        else:
            run.finish()
            made.append((run.id, score))
    store.write(parent["id"], Batch(summary={"best_value": 0.95, "trials_completed": 4,
                                             "trials_pruned": 1, "trials_failed": 0,
                                             "trials_running": 0}))
    return parent["id"], made


@pytest.fixture
def sweep_server(tmp_path: Path, browser: Any) -> Any:
    """A server of its own: the session's demo store keeps no sweep to skew other pages."""
    server = ServerProcess(str(tmp_path / "store"), child_env(tmp_path / "home"),
                           log=tmp_path / "server.log").start()
    yield server
    server.stop()


def test_a_sweeps_page_ranks_its_trials_and_draws_them(page: Any, sweep_server: Any) -> None:
    parent_id, made = _sweep(sweep_server.store)
    page.goto(f"{sweep_server.url}/runs/{parent_id}")
    table = page.locator("table[data-trials]")
    table.wait_for()
    rows = table.locator("tbody tr").evaluate_all("els => els.map(e => e.dataset.runId)")
    completed = sorted((v, i) for i, v in made if v is not None)
    assert rows[:4] == [i for _, i in reversed(completed)]  # best first
    assert rows[4] == next(i for i, v in made if v is None)  # the pruned one after them
    for chart in ("trials", "parallel"):
        card = page.locator(f'#trials [data-chart="{chart}"][data-key="score"]')
        card.wait_for()
        page.wait_for_function(
            f"() => document.querySelector('#trials [data-chart=\"{chart}\"]')"
            ".dataset.points === '4'")
    assert "4 completed, 1 pruned" in page.locator("#trials .panel-head").inner_text()
    assert page.console.take() == []
