"""``GET /api/v1/runs?order_by=best``: the true best-run order over every run, computed by
the server (each run by its own primary metric and mode), not a sort of one loaded page."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from picidae.core.ids import new_id
from picidae.server.app import create_app
from picidae.store.registry import open_store

T0 = 1_700_000_000.0


def record(name: str, at: float, *, metric: str | None = None, mode: str = "max",
           best: float | None = None, parent: dict[str, Any] | None = None,
           kind: str | None = None) -> dict[str, Any]:
    run_id = new_id(at)
    return {"id": run_id, "name": name, "status": "completed", "created_at": at,
            "started_at": at, "ended_at": at + 1, "parent_id": parent["id"] if parent else None,
            "root_id": parent["id"] if parent else run_id, "kind": kind,
            "primary_metric": {"name": metric, "mode": mode, "best": best, "step": 0}
            if metric else None}


@pytest.fixture
def client(store_dir: Path) -> Iterator[TestClient]:
    with TestClient(create_app(str(store_dir), watchdog=False)) as c:
        yield c


def listing(client: TestClient, **params: Any) -> list[dict[str, Any]]:
    """Every page of a listing, following cursors."""
    out: list[dict[str, Any]] = []
    cursor = None
    while True:
        body = client.get("/api/v1/runs", params={**params, "cursor": cursor,
                                                  "with_metrics": "false"}).json()
        out.extend(body["runs"])
        cursor = body["next_cursor"]
        if not cursor:
            return out


def test_best_order_is_the_true_best_of_2000_runs_with_mixed_modes(client, store_dir):
    store = open_store(str(store_dir))
    rng = random.Random(7)
    made = []
    for i in range(2000):
        metric, mode = [("acc", "max"), ("loss", "min"), ("reward", "max")][i % 3]
        best = None if i % 50 == 0 else rng.uniform(-5, 5)
        made.append(store.create_run(record(f"r{i}", T0 + i, metric=metric, mode=mode,
                                            best=best)))
    for i in range(20):  # runs without a primary metric come last
        made.append(store.create_run(record(f"plain{i}", T0 + 3000 + i)))

    first = client.get("/api/v1/runs", params={"order_by": "best", "limit": 3}).json()
    ordered = listing(client, order_by="best", limit=500)
    assert len(ordered) == len(made)

    def value(run: dict[str, Any]) -> float | None:
        return (run.get("primary_metric") or {}).get("best")

    for metric, mode in (("acc", "max"), ("loss", "min"), ("reward", "max")):
        mine = [value(r) for r in ordered if (r.get("primary_metric") or {}).get("name")
                == metric and value(r) is not None]
        truth = sorted((value(r) for r in made if (r.get("primary_metric") or {}).get("name")
                        == metric and value(r) is not None), reverse=mode == "max")
        assert mine == truth, metric  # every run of the metric, best first
    # the first rows are each metric's true best: the best run is found on the first page
    assert [(r["primary_metric"]["name"], value(r)) for r in first["runs"]] == [
        (m, max(value(r) for r in made if r["primary_metric"] and r["primary_metric"]["name"]
                == m and value(r) is not None) if m != "loss" else
         min(value(r) for r in made if r["primary_metric"] and r["primary_metric"]["name"]
             == m and value(r) is not None)) for m in ("acc", "loss", "reward")]
    valued = [value(r) is not None for r in ordered]
    assert valued == sorted(valued, reverse=True)  # runs without a value follow
    worst = listing(client, order_by="best asc", limit=1000)
    assert next(value(r) for r in worst if (r.get("primary_metric") or {}).get("name")
                == "loss" and value(r) is not None) == max(
        value(r) for r in made if r["primary_metric"] and r["primary_metric"]["name"]
        == "loss" and value(r) is not None)
    # filters still apply
    some = listing(client, order_by="best", where='name like "r1%"')
    assert {r["name"] for r in some} == {r["name"] for r in made if r["name"].startswith("r1")}


def test_a_parent_is_scored_by_its_children(client, store_dir):
    store = open_store(str(store_dir))
    sweep = store.create_run(record("sweep", T0, metric="acc"))
    for i, acc in enumerate((0.7, 0.9, 0.8)):
        store.create_run(record(f"sweep/p{i}", T0 + 1 + i, metric="acc", best=acc,
                                parent=sweep, kind="sweep-point"))
    seeds = store.create_run(record("seeds", T0 + 10, metric="acc"))
    for i, acc in enumerate((0.84, 0.86)):
        store.create_run(record(f"seeds/s{i}", T0 + 11 + i, metric="acc", best=acc,
                                parent=seeds, kind="seed"))
    single = store.create_run(record("single", T0 + 20, metric="acc", best=0.88))
    top = listing(client, order_by="best", where="parent_id is null")
    # the sweep by its best point (0.9), then the single run, then the seeds' mean (0.85)
    assert [r["name"] for r in top] == ["sweep", "single", "seeds"]
    assert single["id"] in {r["id"] for r in top}


def test_a_malformed_best_order_is_a_clear_error(client):
    bad = client.get("/api/v1/runs", params={"order_by": "best sideways"})
    assert bad.status_code == 422 and bad.json()["field"] == "order_by"
