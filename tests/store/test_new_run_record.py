"""What ``create_run`` and ``create_run_later`` return for a new run is what a read gives
back — the same values of the same types in the same order, NaN and big ints and text
included, whether the document is plain or holds values JSON changes (an ``IntEnum``, a
``str`` subclass) — and it is the caller's own: changing it changes nothing stored."""

from __future__ import annotations

import enum
import math
from typing import Any

import pytest

from picidae.core.record import new_record
from picidae.store.base import Batch, RunQuery
from picidae.store.sql.store import SqlStore

PACKAGES = {f"pkg-{i:03d}": f"{i}.0" for i in range(50)}


class Mode(enum.IntEnum):
    FAST = 2


class Label(str):
    pass


def _same(a: Any, b: Any, where: str = "record") -> None:
    """Equal, with the same types and key order all the way down (NaN equal to NaN)."""
    assert type(a) is type(b), f"{where}: {type(a).__name__} vs {type(b).__name__}"
    if isinstance(a, dict):
        assert list(a) == list(b), where
        for key in a:
            _same(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, list):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _same(x, y, f"{where}[{i}]")
    elif isinstance(a, float) and math.isnan(a):
        assert math.isnan(b), where
    else:
        assert a == b, where


def _plain_config() -> dict[str, Any]:
    return {"lr": 0.1, "big": 2**70, "neg": -0.0, "nan": math.nan, "inf": -math.inf,
            "name": "résumé ✓", "flag": True, "none": None,
            "deep": {"layers": [64, 32, {"kind": "relu"}], "empty": {}, "list": []}}


def _record(name: str, config: dict[str, Any]) -> dict[str, Any]:
    env = {"python": "3.11.7", "packages": dict(PACKAGES), "cpu_count": 2,
           "variables": {"LANG": "C.UTF-8"}}
    return new_record(name, config=config, tags=["a", "b"], command=["python", "x.py"],
                      env=env, seed=3)


def _compared(rec: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in rec.items() if k not in ("duration_s", "stale")}


@pytest.mark.parametrize("later", [False, True], ids=["create_run", "create_run_later"])
@pytest.mark.parametrize("config", [
    _plain_config(),
    {**_plain_config(), "mode": Mode.FAST, "label": Label("x"), "pair": (1, 2)},
], ids=["plain", "changed-by-json"])
def test_a_new_runs_record_is_what_a_read_gives(sql_store: SqlStore, later: bool,
                                                config: dict[str, Any]) -> None:
    rec = _record("new/record", config)
    made = (sql_store.create_run_later if later else sql_store.create_run)(rec)
    read = sql_store.get_run(rec["id"])
    _same(_compared(made), _compared(read))
    assert type(made["config"].get("mode", 0)) is int  # an IntEnum comes back an int


@pytest.mark.parametrize("later", [False, True], ids=["create_run", "create_run_later"])
def test_changing_a_new_runs_record_changes_nothing_stored(sql_store: SqlStore,
                                                           later: bool) -> None:
    rec = _record("new/owned", _plain_config())
    made = (sql_store.create_run_later if later else sql_store.create_run)(rec)
    expected = _compared(sql_store.get_run(rec["id"])) if not later else None
    made["config"]["lr"] = 9.0
    made["config"]["deep"]["layers"].append(1)
    made["tags"].append("changed")
    made["env"]["packages"]["pkg-000"] = "9"
    made["env"]["variables"]["LANG"] = "changed"
    made["transitions"].clear()
    read = sql_store.get_run(rec["id"])
    assert read["config"]["lr"] == 0.1 and read["config"]["deep"]["layers"] == [64, 32,
                                                                                 {"kind": "relu"}]
    assert read["tags"] == ["a", "b"]
    assert read["env"]["packages"] == PACKAGES
    assert read["env"]["variables"] == {"LANG": "C.UTF-8"}
    assert len(read["transitions"]) == 1
    # What queries find goes by the stored values too.
    assert [r["id"] for r in sql_store.list_runs(RunQuery(where="config.lr = 0.1"))] \
        == [rec["id"]]
    assert sql_store.list_runs(RunQuery(tags=["changed"])) == []
    if expected is not None:
        _same(_compared(read), expected)
    again = _record("new/again", _plain_config())  # the same package set, remembered
    _same(sql_store.create_run(again)["env"], sql_store.get_run(again["id"])["env"])


def test_a_waiting_run_ends_as_stored_whatever_the_caller_does_to_its_record(
        sql_store: SqlStore) -> None:
    rec = _record("new/ends", _plain_config())
    made = sql_store.create_run_later(rec)
    made["status"] = "completed"  # the caller's own copy: the store goes by its rows
    made["started_at"] = None
    assert sql_store.write_and_move(rec["id"], Batch(), "completed", actor="sdk") \
        == "completed"
    read = sql_store.get_run(rec["id"])
    assert read["status"] == "completed" and read["started_at"] == rec["started_at"]
    assert [(t["from"], t["to"]) for t in read["transitions"]] == [
        ("queued", "running"), ("running", "completed")]
