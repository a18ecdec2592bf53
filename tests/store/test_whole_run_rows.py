"""A short run written whole (``store/sql/whole_runs.py``: rows built as tuples, sent to the
driver as they are) stores exactly what the generic way (``create_run`` then
``write_and_move``) stores: every table's rows, value for value and type for type, on both
SQL stores — the chunk blobs byte for byte, numbers as floats."""

from __future__ import annotations

import enum
import math
from array import array
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from picidae.core.record import new_record
from picidae.store.base import Batch, RunQuery, SeriesChunk
from picidae.store.sql import tables
from picidae.store.sql.store import SqlStore

#: Columns that differ between two runs written a moment apart (ids, clocks).
_APART = {"id", "run_id", "root_id", "created_at", "started_at", "ended_at",
          "last_heartbeat_at", "at"}


@pytest.fixture(autouse=True)
def _outside_any_repository(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def _batch() -> Batch:
    """A short run's end: one-point finals (one NaN, one at a later step, one staged), a
    series of several points, and a summary of every kind of value."""
    t = 1.7e9
    one = [SeriesChunk(f"final_{j}", None, array("q", [0]), array("d", [j / 7]),
                       array("d", [t])) for j in range(3)]
    one += [SeriesChunk("nan", None, array("q", [3]), array("d", [math.nan]), array("d", [t])),
            SeriesChunk("staged", "eval", array("q", [9]), array("d", [0.5]),
                        array("d", [t + 1])),
            SeriesChunk("loss", None, array("q", range(100)),
                        array("d", [1 / (s + 1) for s in range(100)]),
                        array("d", [t + s for s in range(100)]))]
    return Batch(chunks=one, summary={"acc": 0.9, "epochs": 3, "ok": True, "note": "a\x00b",
                                      "worst": math.nan, "nested": {"x": [1, 2], "e": {}}})


def _rows(store: SqlStore, run_id: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row the run owns, by table, without what differs between two runs; each value
    with its Python type (a blob as ``bytes``)."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    with store.engine.connect() as conn:
        for table in (tables.runs, tables.run_fields, tables.run_tags, tables.transitions,
                      tables.events, tables.metric_chunks, tables.metric_latest):
            key = table.c.id if "run_id" not in table.c else table.c.run_id
            names = [c.name for c in table.c if c.name not in _APART]
            found = conn.execute(select(*(table.c[n] for n in names)).where(key == run_id)
                                 .order_by(*table.primary_key.columns))
            rows = []
            for row in found:
                values = tuple(bytes(v) if isinstance(v, memoryview) else v for v in row)
                rows.append(tuple(zip(names, values, map(type, values), strict=True)))
            out[table.name] = sorted(rows, key=repr)
    return out


def test_a_short_run_written_whole_stores_what_the_generic_way_stores(
        sql_store: SqlStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PICIDAE_NEW_RUN_DELAY_S", "30")
    config = {"lr": 0.1, "batch_size": 32, "optimizer": "adam", "warmup": True, "none": None,
              "deep": {"k": [1, 2], "inner": {"x": 1.5}}, "nan": math.nan}
    made = [new_record("whole/run", config=config, tags=["a", "b", "c"], seed=7)
            for _ in range(2)]
    for rec in made[1:]:  # the same clocks, so what is derived from them agrees too
        rec["created_at"], rec["started_at"] = made[0]["created_at"], made[0]["started_at"]
        rec["transitions"] = made[0]["transitions"]
    generic, whole = made
    sql_store.create_run(generic)
    sql_store.write_and_move(generic["id"], _batch(), "completed", actor="sdk")
    sql_store.create_run_later(whole)
    sql_store.write_and_move(whole["id"], _batch(), "completed", actor="sdk")
    sql_store.settle()
    written = _rows(sql_store, whole["id"])
    assert written == _rows(sql_store, generic["id"])
    assert len(written["metric_chunks"]) == 6 and len(written["run_fields"]) == 15


@pytest.mark.parametrize("later", [False, True], ids=["create_run", "create_run_later"])
def test_a_run_with_an_int_past_floats_range_is_recorded_and_found(
        sql_store: SqlStore, later: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    # JSON holds any int, and so does the run's document; the index of config and summary
    # values (run_fields.num, a float) took float() of it, which overflows: create_run
    # raised OverflowError, and a run waiting to be written whole was not recorded at all.
    monkeypatch.setenv("PICIDAE_NEW_RUN_DELAY_S", "30")
    huge, config = 10**400, {"huge": 10**400, "tiny": -(10**400), "lr": 0.1}
    rec = new_record("whole/huge", config=config)
    (sql_store.create_run_later if later else sql_store.create_run)(rec)
    sql_store.write_and_move(rec["id"], Batch(summary={"count": huge}), "completed",
                             actor="sdk")
    sql_store.settle()
    read = sql_store.get_run(rec["id"])
    assert read["config"] == config and read["summary"] == {"count": huge}
    assert read["status"] == "completed"
    for where in ("config.huge > 1e308", "config.tiny < -1e308", "summary.count > 5"):
        assert [r["id"] for r in sql_store.list_runs(RunQuery(where=where))] == [rec["id"]]
    assert sql_store.list_runs(RunQuery(where="config.huge < 5")) == []


class _Mode(enum.IntEnum):
    FAST = 3


class _Ratio(float):
    pass


def test_edge_values_are_stored_alike_written_whole_or_the_generic_way(
        sql_store: SqlStore, monkeypatch: pytest.MonkeyPatch) -> None:
    # -0.0 and infinities (finals and fields), non-ASCII and NUL text in the name, tags,
    # stage and fields, an IntEnum and a float subclass: the rows agree value for value,
    # the sign of zero included (compared by repr), and so do the records read back.
    monkeypatch.setenv("PICIDAE_NEW_RUN_DELAY_S", "30")
    t = 1.7e9
    finals = [("negz", None, -0.0), ("pinf", None, math.inf), ("ninf", "é☃", -math.inf),
              ("max", None, 1e308)]
    summary = {"negz": -0.0, "inf": math.inf, "ninf": -math.inf, "big": 10**30,
               "text": "é\x00☃\U0001F600", "no": False, "none": None, "mode": _Mode.FAST,
               "ratio": _Ratio(0.25), "list": [math.nan, -0.0, "\x00"]}
    config = {"negz": -0.0, "inf": math.inf, "big": 10**30, "text": "ü\x00x\U0001F600",
              "yes": True, "none": None, "mode": _Mode.FAST, "ratio": _Ratio(1.5),
              "deep": {"z": -0.0, "nul": "\x00"}}
    made = [new_record("whole/é☃", config=config, tags=["ä", "b☃"], seed=2**62)
            for _ in range(2)]
    for rec in made[1:]:
        rec["created_at"], rec["started_at"] = made[0]["created_at"], made[0]["started_at"]
        rec["transitions"] = made[0]["transitions"]
    generic, whole = made
    for rec, create in ((generic, sql_store.create_run), (whole, sql_store.create_run_later)):
        create(rec)
        batch = Batch(chunks=[SeriesChunk(k, stage, array("q", [i]), array("d", [v]),
                                          array("d", [t])) for i, (k, stage, v) in
                              enumerate(finals)], summary=dict(summary))
        sql_store.write_and_move(rec["id"], batch, "completed", actor="sdk")
    sql_store.settle()
    written, expected = _rows(sql_store, whole["id"]), _rows(sql_store, generic["id"])
    assert repr(written) == repr(expected)
    assert len(written["metric_chunks"]) == 4
    read, wanted = sql_store.get_run(whole["id"]), sql_store.get_run(generic["id"])
    for name in ("name", "tags", "config", "summary"):
        assert repr(read[name]) == repr(wanted[name]), name
