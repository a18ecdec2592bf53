"""The routes the pages build on, in-process over a demo store (no browser needed)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

import picidae
from picidae import demo
from picidae.server.app import create_app
from picidae.store.registry import open_store


@pytest.fixture
def client(store_dir: Path) -> Iterator[TestClient]:
    demo.fill(open_store(str(store_dir)))
    with TestClient(create_app(str(store_dir), watchdog=False)) as c:
        yield c


def run_named(client: TestClient, name: str) -> dict[str, Any]:
    return client.get("/api/v1/runs", params={"name": name}).json()["runs"][0]


def test_children_stats_match_the_sdk(client, store_dir):
    parent = run_named(client, "confidence-reweighting")
    body = client.get(f"/api/v1/runs/{parent['id']}/children_stats").json()
    assert body["children"] == 5 and body["statuses"] == {"completed": 5}
    expected = picidae.get_run(parent["id"], store=str(store_dir)).children_stats()
    assert set(body["stats"]) == set(expected)
    for key, stats in expected.items():
        assert body["stats"][key] == pytest.approx(stats)
    only = client.get(f"/api/v1/runs/{parent['id']}/children_stats", params={"keys": "pgr"})
    assert list(only.json()["stats"]) == ["pgr"]
    assert client.get("/api/v1/runs/nope/children_stats").status_code == 404


def test_child_counts_and_status_facets(client):
    roots = client.get("/api/v1/runs", params={"where": "parent_id is null"}).json()["runs"]
    ids = ",".join(r["id"] for r in roots)
    counts = client.get("/api/v1/ui/child-counts", params={"ids": ids}).json()["counts"]
    by_name = {r["name"]: counts[r["id"]] for r in roots}
    assert by_name["confidence-reweighting"] == 5 and by_name["cv/resnet18-sweep"] == 4
    assert by_name["autogo-iteration-17"] == 3 and by_name["rl/ppo-cartpole"] == 0
    facets = client.get("/api/v1/ui/facets", params={"where": "parent_id is null"}).json()
    assert facets == {"statuses": {"queued": 1, "completed": 4, "failed": 1, "canceled": 1},
                      "total": 7}
    bad = client.get("/api/v1/ui/facets", params={"where": "config.lr ==="})
    assert bad.status_code == 422 and bad.json()["field"] == "where"
    many = client.get("/api/v1/ui/child-counts", params={"ids": ",".join(["x"] * 201 + ["y"])})
    assert many.status_code == 200  # duplicates fold
    too_many = client.get("/api/v1/ui/child-counts",
                          params={"ids": ",".join(f"r{i}" for i in range(201))})
    assert too_many.status_code == 422 and too_many.json()["field"] == "ids"


def test_compare_rows_mark_what_differs(client):
    a = run_named(client, "cv/resnet18-sweep/lr=0.001,bs=64")
    b = run_named(client, "cv/resnet18-sweep/lr=0.003,bs=64")
    body = client.get("/api/v1/ui/compare", params={"ids": f"{a['id']},{b['id']}"}).json()
    assert [r["name"] for r in body["runs"]] == [a["name"], b["name"]]
    rows = {(r["section"], r["key"]): r for r in body["rows"]}
    assert rows["config", "lr"] == {"section": "config", "key": "lr",
                                    "values": [0.001, 0.003], "differs": True}
    assert rows["config", "batch_size"]["differs"] is False
    assert rows["metrics", "val/acc"]["differs"] is True
    missing = client.get("/api/v1/ui/compare", params={"ids": f"{a['id']},nope"})
    assert missing.status_code == 404


def test_history_counts_statuses_failures_and_durations(client):
    body = client.get("/api/v1/ui/history", params={"days": 7}).json()
    assert body["bucket"] == "day" and len(body["buckets"]) in (7, 8)
    assert body["total"] == 19 and body["totals"]["failed"] == 1
    assert body["ended"] == 18 and body["failure_rate"] == pytest.approx(1 / 18)
    assert sum(sum(b["counts"].values()) for b in body["buckets"]) == 19
    assert body["duration"]["n"] == 18 and body["duration"]["of"] == 18
    assert body["duration"]["p50"] <= body["duration"]["p95"] <= body["duration"]["max"]
    assert [f["name"] for f in body["recent_failures"]] == ["nlp/bert-large-finetune"]
    assert body["recent_failures"][0]["reason"] == "crash"
    hours = client.get("/api/v1/ui/history", params={"days": 1}).json()
    assert hours["bucket"] == "hour" and len(hours["buckets"]) in (24, 25)


def test_series_window_downsamples_and_zooms(client, store_dir):
    run = run_named(client, "lm/gpt-small-pretrain")
    url = f"/api/v1/ui/series/{run['id']}/loss"
    full = client.get(url, params={"max_points": 100}).json()
    assert full["total"] == 6000 and full["downsampled"] and len(full["values"]) <= 100
    assert [s for _, s in full["stages"]] == ["warmup", "train", "anneal"]
    series = picidae.get_run(run["id"], store=str(store_dir)).metrics("loss")
    assert max(full["values"]) == max(p.value for p in series)
    window = client.get(url, params={"lo": 1000, "hi": 1100}).json()
    assert window["steps"] == list(range(999, 1102)) and not window["downsampled"]
    t0 = series[2000].time
    by_time = client.get(url, params={"x": "time", "lo": t0, "hi": t0 + 15}).json()
    assert by_time["steps"][0] == 1999 and by_time["steps"][-1] == 2011
    assert client.get(f"/api/v1/ui/series/{run['id']}/nope").json()["total"] == 0


def test_duration_sorts_runs(client):
    runs = client.get("/api/v1/runs", params={"order_by": "duration_s desc",
                                              "where": "parent_id is null"}).json()["runs"]
    durations = [r["duration_s"] for r in runs]
    assert durations[0] == max(d for d in durations if d is not None)
    assert durations[-1] is None  # the queued run never started: last
    started = durations[:-1]
    assert all(a >= b for a, b in itertools.pairwise(started))


def test_pages_are_served_with_their_boot_data(client):
    page = client.get("/", params={"where": 'tags contains "</script>"'})
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert '"page": "runs"' in page.text and "</script>\"" not in page.text
    assert client.get("/runs/anything").status_code == 200
    assert '"ids": ["a", "b"]' in client.get("/compare?ids=a,b").text
    assert client.get("/history").status_code == 200
    js = client.get("/static/js/runs.js")
    assert js.status_code == 200 and "javascript" in js.headers["content-type"]
    assert js.headers["cache-control"] == "no-cache"
    assert client.get("/static/vendor/uplot/LICENSE").text.startswith("The MIT License")


def test_children_stats_name_the_kinds_and_the_best_child(client):
    sweep = run_named(client, "cv/resnet18-sweep")
    body = client.get(f"/api/v1/runs/{sweep['id']}/children_stats").json()
    points = client.get("/api/v1/runs", params={"parent": sweep["id"]}).json()["runs"]
    top = max(points, key=lambda p: p["primary_metric"]["best"])
    assert body["kinds"] == {"sweep-point": 4}
    assert body["best"] == {"id": top["id"], "name": top["name"],
                            "value": top["primary_metric"]["best"]}
    autogo = run_named(client, "autogo-iteration-17")  # no primary metric: no best child
    assert client.get(f"/api/v1/runs/{autogo['id']}/children_stats").json()["best"] is None


def test_sparklines_and_the_name_tree(client):
    runs = client.get("/api/v1/runs", params={"limit": 200}).json()["runs"]
    ids = ",".join(r["id"] for r in runs)
    body = client.get("/api/v1/ui/sparklines", params={"ids": ids + ",nope", "points": 10}).json()
    with_series = [r for r in runs if r["id"] in body["series"]]
    assert with_series and "nope" not in body["series"]
    for run in with_series:
        line = body["series"][run["id"]]
        assert line["key"] == run["primary_metric"]["name"] and len(line["values"]) <= 10
        full = client.get(f"/api/v1/runs/{run['id']}/metrics/{line['key']}").json()["points"]
        assert line["total"] == len(full) and line["steps"][-1] == full[-1]["step"]
    assert client.get("/api/v1/ui/sparklines", params={"ids": ids, "points": 1}).json()[
        "field"] == "points"
    tree = client.get("/api/v1/ui/name-tree", params={"where": "parent_id is null"}).json()
    top = {node["name"]: node for node in tree["tree"]}
    tops = client.get("/api/v1/runs", params={"where": "parent_id is null",
                                              "limit": 500}).json()["runs"]
    assert sum(node["n"] for node in top.values()) == len(tops) == tree["runs"]
    assert top["cv"]["n"] == sum(1 for r in tops if r["name"].startswith("cv/"))
    assert all(c["path"].startswith("cv/") for c in top["cv"]["children"])
    bad = client.get("/api/v1/ui/name-tree", params={"where": "nonsense ="})
    assert bad.status_code == 422 and bad.json()["field"] == "where"


def test_a_flat_folder_of_many_names_is_cut_with_a_count(client, store_dir):
    from picidae.core.record import new_record
    from picidae.server.routes.ui_api import TREE_NODE_CHILDREN

    store = open_store(str(store_dir))
    for i in range(TREE_NODE_CHILDREN + 30):
        store.create_run(new_record(f"flat/run-{i:04d}"))
    tree = client.get("/api/v1/ui/name-tree", params={"where": 'name like "flat/%"'}).json()
    (flat,) = tree["tree"]
    assert flat["n"] == TREE_NODE_CHILDREN + 30
    assert len(flat["children"]) == TREE_NODE_CHILDREN + 1
    assert flat["children"][-1] == {"more": 30}
