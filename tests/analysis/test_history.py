"""``picidae.history`` and ``picidae history``: figures on a known set of runs."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

import picidae
from picidae.analysis.bundle import load_run
from picidae.cli.main import main
from picidae.core.ids import new_id
from picidae.store.registry import open_store

DAY1 = 1_793_000_000.0  # 2026-10-26
DAY2 = DAY1 + 86400.0


def _add(url: str, name: str, status: str, *, at: float, duration: float | None,
         agent: str, cost: float | None = None, reason: str | None = None) -> str:
    run_id = new_id(at=at)
    record: dict[str, Any] = {
        "id": run_id, "name": name, "status": status, "agent": agent, "created_at": at,
        "started_at": at if status != "queued" else None,
        "ended_at": at + duration if duration is not None else None,
        "last_heartbeat_at": time.time() if status == "running" else None,
        "cost": {"amount": cost, "currency": "USD"} if cost is not None else None,
        "failure": {"reason": reason} if reason else None,
    }
    load_run(open_store(url), {"record": record})
    return run_id


@pytest.fixture
def known(any_store_url: str) -> str:
    _add(any_store_url, "a", "completed", at=DAY1, duration=10, agent="alice", cost=1.5)
    _add(any_store_url, "a", "completed", at=DAY1 + 60, duration=20, agent="alice", cost=1.5)
    _add(any_store_url, "a", "completed", at=DAY1 + 120, duration=30, agent="alice")
    _add(any_store_url, "a", "failed", at=DAY2, duration=40, agent="alice", reason="crash")
    _add(any_store_url, "b", "canceled", at=DAY2, duration=50, agent="bob", cost=2.0)
    _add(any_store_url, "b", "failed", at=DAY2 + 60, duration=60, agent="bob", reason="lost")
    _add(any_store_url, "b", "running", at=time.time() - 5, duration=None, agent="bob")
    _add(any_store_url, "b", "queued", at=time.time() - 5, duration=None, agent="bob")
    return any_store_url


def test_history_totals_failure_rate_durations_and_cost(known: str) -> None:
    total = picidae.history(store=known)["total"]
    assert total["runs"] == 8
    assert total["statuses"] == {"canceled": 1, "completed": 3, "failed": 2, "queued": 1,
                                 "running": 1}
    assert total["failed"] == 2 and total["canceled"] == 1
    assert total["failure_rate"] == pytest.approx(2 / 6)  # failed among the 6 that ended
    assert total["failures"] == {"crash": 1, "lost": 1}
    assert total["duration"] == {"n": 6, "mean": pytest.approx(35.0),
                                 "p50": pytest.approx(35.0), "p95": pytest.approx(57.5)}
    assert total["cost"] == {"total": pytest.approx(5.0), "runs": 3, "currency": "USD"}


def test_history_by_name_day_and_agent(known: str) -> None:
    by_name = {g["group"]: g for g in picidae.history(store=known, by="name")["groups"]}
    assert by_name["a"]["runs"] == 4 and by_name["a"]["failure_rate"] == pytest.approx(0.25)
    assert by_name["a"]["duration"]["p95"] == pytest.approx(38.5)
    assert by_name["b"]["failure_rate"] == pytest.approx(0.5)  # 1 failed, 1 canceled
    days = picidae.history(store=known, by="day", where=f"created_at < {DAY2 + 3600}")
    assert [(g["group"], g["runs"]) for g in days["groups"]] == [("2026-10-26", 3),
                                                                  ("2026-10-27", 3)]
    agents = {g["group"]: g["runs"] for g in picidae.history(store=known, by="agent")["groups"]}
    assert agents == {"alice": 4, "bob": 4}
    failed = picidae.history(store=known, where='status = "failed"')["total"]
    assert failed["runs"] == 2 and failed["failure_rate"] == 1.0


def test_history_rejects_an_unknown_grouping(known: str) -> None:
    with pytest.raises(picidae.InvalidInput, match="name, day, agent"):
        picidae.history(store=known, by="week")


def test_cli_history_table_and_json(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    url = str(tmp_path / "store")
    _add(url, "a", "completed", at=DAY1, duration=10, agent="alice")
    _add(url, "a", "failed", at=DAY1 + 1, duration=30, agent="alice", reason="crash")
    main(["history", "--by", "name", "--store", url])
    out = capsys.readouterr().out
    assert "50.0%" in out and "failure rate" in out and "crash 1" in out
    main(["history", "--json", "--store", url])
    data = json.loads(capsys.readouterr().out)
    assert data["total"]["failure_rate"] == 0.5 and data["total"]["duration"]["mean"] == 20.0
