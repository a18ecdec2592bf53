"""The SQL stores' one-transaction finish (``write_and_move``: the last batch and the final
state, or neither), and ``create_run``/``transition`` returning what a read gives back."""

from __future__ import annotations

from array import array
from pathlib import Path
from typing import Any

import pytest

import picidae
from picidae.core.record import new_record
from picidae.errors import IllegalTransition, InvalidInput, RunFinished
from picidae.store.base import Batch, SeriesChunk
from picidae.store.sql.store import SqlStore


def _batch(summary: dict[str, Any], batch_id: str = "b-1") -> Batch:
    chunk = SeriesChunk("acc", None, array("q", [0]), array("d", [0.5]), array("d", [1.0]))
    return Batch(chunks=[chunk], summary=summary, batch_id=batch_id)


def test_create_and_transition_return_what_a_read_gives(sql_store: SqlStore) -> None:
    record = new_record("w2/returned", config={"lr": 1, "nested": {"a": (1, 2)}},
                        tags=["x", "y"], seed=3)
    made = sql_store.create_run(record)
    read = sql_store.get_run(record["id"])
    read.pop("stale")
    for rec in (made, read):
        rec.pop("duration_s")
    assert made == read
    moved = sql_store.transition(record["id"], "completed", reason="done", actor="test")
    read = sql_store.get_run(record["id"])
    read.pop("stale")
    for rec in (moved, read):
        rec.pop("duration_s")
    assert moved == read
    with pytest.raises(InvalidInput, match="exists already"):
        sql_store.create_run(record)


def test_write_and_move_applies_the_batch_and_the_transition_together(
        sql_store: SqlStore) -> None:
    run_id = sql_store.create_run(new_record("w2/together"))["id"]
    assert sql_store.write_and_move(run_id, _batch({"score": 1}), "completed",
                                    actor="sdk") == "completed"
    rec = sql_store.get_run(run_id)
    assert rec["status"] == "completed" and rec["summary"] == {"score": 1}
    assert rec["transitions"][-1]["actor"] == "sdk" and rec["transitions"][-1]["reason"] is None
    assert sql_store.metrics(run_id, "acc").values == [0.5]
    kinds = [e["type"] for e in sql_store.events_since(0, run_id=run_id)]
    assert kinds[-2:] == ["run.summary", "run.transition"]
    # The same batch again (a retry) is acknowledged without applying it twice.
    sql_store.write(run_id, _batch({"score": 1}))
    assert sql_store.metrics(run_id, "acc").values == [0.5]


def test_a_refused_move_leaves_the_batch_unapplied(sql_store: SqlStore) -> None:
    run_id = sql_store.create_run(new_record("w2/refused"))["id"]
    with pytest.raises(IllegalTransition):
        sql_store.write_and_move(run_id, _batch({"score": 2}), "queued")
    assert sql_store.get_run(run_id)["summary"] == {}
    assert sql_store.metrics(run_id, "acc").values == []
    sql_store.write(run_id, _batch({"score": 2}))  # its id was not kept: applied now
    assert sql_store.get_run(run_id)["summary"] == {"score": 2}
    sql_store.transition(run_id, "canceled")
    with pytest.raises(RunFinished):
        sql_store.write_and_move(run_id, _batch({"score": 3}, "b-2"), "completed")


def test_finish_ends_the_run_in_one_transaction_with_its_last_points(store_dir: Path) -> None:
    run = picidae.init("w2/sdk", store=store_dir, config={"a": 1}, tags=["t"])
    run.log(acc=0.9, loss=0.1)
    run.finish()
    rv = picidae.get_run(run.id, store=store_dir)
    assert rv.status == "completed" and rv.metrics("acc").values == [0.9]
    assert [(t["from"], t["to"], t["actor"]) for t in rv.transitions] == [
        ("queued", "running", "sdk"), ("running", "completed", "sdk")]
    assert rv.env and "packages" in rv.env  # the capture is in the record
