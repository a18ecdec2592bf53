"""The store side of running work, the same on every store: claims and flows."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import picidae
from picidae.errors import FlowNotFound, InvalidInput
from picidae.store.registry import open_store

from .conftest import LiveServer


@pytest.fixture(params=["sqlite", "postgresql", "http"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A store URL of each kind (http: a server on an embedded store)."""
    if request.param == "sqlite":
        yield str(tmp_path / "store")
    elif request.param == "postgresql":
        yield str(request.getfixturevalue("pg_url"))
    else:
        with LiveServer(str(tmp_path / "server-store")) as srv:
            yield srv.url


def test_claims_take_the_oldest_runs_of_a_queue_once(any_store: str) -> None:
    store: Any = open_store(any_store)
    first = picidae.submit(["true"], name="a", store=any_store)
    second = picidae.submit(["true"], name="b", store=any_store)
    other = picidae.submit(["true"], name="c", queue="gpu", store=any_store)
    group = picidae.submit(["true"], name="g", seeds="1-2", store=any_store)
    claimed = store.claim("w1", limit=1)
    assert [r["id"] for r in claimed] == [first.id]
    (rec,) = claimed
    assert rec["status"] == "provisioning" and rec["compute"]["worker"] == "w1"
    assert rec["transitions"][-1]["actor"] == "w1"
    rest = store.claim("w2", limit=10)
    assert [r["name"] for r in rest] == ["b", "g/seed-1", "g/seed-2"]  # never the parent
    assert store.claim("w2", limit=10) == []
    assert [r["id"] for r in store.claim("w3", queue="gpu", limit=5)] == [other.id]
    assert picidae.get_run(group.id, store=any_store).status == "queued"
    assert second.id in {r["id"] for r in rest}
    with pytest.raises(InvalidInput):
        store.claim("w4", limit=0)


def test_concurrent_claims_never_hand_out_a_run_twice(any_store: str) -> None:
    ids = {picidae.submit(["true"], store=any_store).id for _ in range(20)}
    store: Any = open_store(any_store)
    got: list[str] = []
    lock = threading.Lock()

    def claim(n: int) -> None:
        while True:
            found = store.claim(f"w{n}", limit=2)
            if not found:
                return
            with lock:
                got.extend(r["id"] for r in found)

    threads = [threading.Thread(target=claim, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(got) == sorted(ids)


def test_flows_keep_every_version(any_store: str) -> None:
    store: Any = open_store(any_store)
    one = store.add_flow("train", {"command": ["python", "a.py"], "config": {"lr": 0.1}})
    two = store.add_flow("train", {"command": ["python", "b.py"], "config": {}})
    store.add_flow("eval", {"command": ["python", "e.py"], "config": {}})
    assert (one["version"], two["version"]) == (1, 2)
    assert store.get_flow("train")["spec"]["command"] == ["python", "b.py"]
    assert store.get_flow("train", 1)["spec"]["config"] == {"lr": 0.1}
    with pytest.raises(FlowNotFound):
        store.get_flow("train", 3)
    with pytest.raises(FlowNotFound):
        store.get_flow("nope")
    listed = store.list_flows()
    assert [(f["name"], f["version"], f["versions"]) for f in listed] == [("eval", 1, 1),
                                                                          ("train", 2, 2)]
    assert all(f["last_run"] is None for f in listed)
    with pytest.raises(InvalidInput):
        store.add_flow("a/b", {"command": ["x"]})
