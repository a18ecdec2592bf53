"""New runs written a moment later, with their end (``store/sql/deferred.py``), on both SQL
stores: what is written is what ``create_run`` and ``write_and_move`` write; an illegal end
is refused at once; one run that cannot be written costs no other; a busy database, a fork
and a delay of 0 lose nothing and hide nothing."""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from array import array
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

import picidae
from picidae.core.record import new_record
from picidae.core.run import LogLine
from picidae.errors import IllegalTransition, InvalidInput
from picidae.settings import settings
from picidae.store.base import Batch, RunQuery, SeriesChunk
from picidae.store.registry import open_store
from picidae.store.sql.sqlite import SqliteStore
from picidae.store.sql.store import SqlStore


@pytest.fixture(autouse=True)
def _outside_any_repository(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No git state to capture: nothing else writes to the store while a run waits."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, store_dir: Path) -> str:
    return str(store_dir) if request.param == "sqlite" else request.getfixturevalue("pg_url")


@pytest.fixture
def sql_store(url: str) -> SqlStore:
    store = open_store(url)
    assert isinstance(store, SqlStore)
    return store


def _statuses_from_outside(url: str) -> dict[str, str]:
    """The runs' statuses as another program sees them: its own connection, no settling."""
    if "://" not in url:
        with sqlite3.connect(Path(url) / "picidae.db") as con:
            return dict(con.execute("SELECT id, status FROM runs").fetchall())
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as conn:
            return {row.id: row.status for row in conn.execute(text("SELECT id, status "
                                                                    "FROM runs"))}
    finally:
        engine.dispose()


def _batch(batch_id: str) -> Batch:
    chunk = SeriesChunk("acc", None, array("q", [0, 1]), array("d", [0.5, 0.75]),
                        array("d", [1.0, 2.0]))
    return Batch(chunks=[chunk], summary={"best": 0.75}, batch_id=batch_id)


def _comparable(rec: dict[str, Any]) -> dict[str, Any]:
    rec = dict(rec)
    for name in ("duration_s", "stale"):
        rec.pop(name, None)
    return rec


_ENDS = {
    "completed": {"to": "completed"},
    "failed": {"to": "failed", "reason": "error",
               "failure": {"reason": "error", "message": "CUDA out of memory"}},
    "canceled": {"to": "canceled", "reason": "user"},
}


def _as_written(store: SqlStore, run_id: str) -> dict[str, Any]:
    """All a reader can get of a run, without what differs between two runs (ids, times)."""
    rec = store.get_run(run_id)
    for name in ("id", "root_id", "name", "created_at", "started_at", "ended_at",
                 "duration_s", "stale", "last_heartbeat_at"):
        rec.pop(name, None)
    rec["transitions"] = [(t["from"], t["to"], t["reason"], t["actor"])
                          for t in rec["transitions"]]
    rec["events"] = [(e["type"], {k: v for k, v in (e.get("payload") or {}).items()
                                  if k != "name"})
                     for e in store.events_since(0, run_id=run_id)]
    rec["acc"] = (store.metrics(run_id, "acc").steps, store.metrics(run_id, "acc").values)
    rec["latest"] = store.latest_metrics([run_id])[run_id]
    rec["logs"] = [(ln.stream, ln.text) for ln in store.logs(run_id)]
    return rec


@pytest.mark.parametrize("how", sorted(_ENDS))
def test_a_run_written_later_with_its_end_is_what_the_two_calls_write(
        url: str, sql_store: SqlStore, monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    monkeypatch.setenv("PICIDAE_NEW_RUN_DELAY_S", "30")
    end = _ENDS[how]
    later, now = (new_record(f"deferred/{n}", config={"lr": 0.1, "deep": {"k": [1, 2]}},
                             tags=["a", "b"], seed=7) for n in ("later", "now"))
    def finish(run_id: str) -> None:
        batch = _batch(f"b-{run_id}")
        batch.logs = [LogLine(1.0, "stdout", "epoch 1"), LogLine(2.0, "stderr", "warn\x00")]
        assert sql_store.write_and_move(run_id, batch, end["to"], reason=end.get("reason"),
                                        actor="sdk", failure=end.get("failure")) == end["to"]

    sql_store.create_run(now)  # written at once, then moved: the generic way
    finish(now["id"])
    made = sql_store.create_run_later(later)  # waits, and ends while it waits
    finish(later["id"])
    assert _statuses_from_outside(url) == {now["id"]: end["to"]}  # the other still waits
    # The read writes what waits first; then both runs read back alike.
    written_later = _as_written(sql_store, later["id"])
    assert written_later == _as_written(sql_store, now["id"])
    assert written_later["status"] == end["to"] and written_later["summary"] == {"best": 0.75}
    assert written_later["acc"] == ([0, 1], [0.5, 0.75])
    assert [kind for kind, _ in written_later["events"]] == [
        "run.created", "run.transition", "run.summary", "run.transition"]
    read = sql_store.get_run(later["id"])
    assert _comparable(made) == _comparable({**read, "status": "running", "ended_at": None,
                                             "summary": {}, "failure": None,
                                             "transitions": read["transitions"][:1]})
    found = sql_store.list_runs(RunQuery(where="config.lr = 0.1 and summary.best = 0.75",
                                         status=[end["to"]]))
    assert {r["id"] for r in found} == {later["id"], now["id"]}


def test_an_illegal_end_of_a_waiting_run_is_refused_at_once(
        sql_store: SqlStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PICIDAE_NEW_RUN_DELAY_S", "30")
    record = new_record("deferred/illegal")
    sql_store.create_run_later(record)
    with pytest.raises(IllegalTransition):
        sql_store.write_and_move(record["id"], _batch("b-1"), "queued")
    rec = sql_store.get_run(record["id"])
    assert rec["status"] == "running" and rec["summary"] == {}
    assert sql_store.metrics(record["id"], "acc").values == []


def test_another_workspace_cannot_end_a_waiting_run(
        sql_store: SqlStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PICIDAE_NEW_RUN_DELAY_S", "30")
    record = new_record("deferred/mine")
    sql_store.create_run_later(record)
    other = sql_store.for_workspace("someone-else")
    with pytest.raises(picidae.RunNotFound):
        other.write_and_move(record["id"], _batch("b-other"), "canceled")
    rec = sql_store.get_run(record["id"])
    assert rec["status"] == "running" and rec["summary"] == {}


def test_a_run_that_cannot_be_written_costs_no_other(
        sql_store: SqlStore, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("PICIDAE_NEW_RUN_DELAY_S", "30")
    taken = new_record("deferred/taken")
    sql_store.create_run(taken)
    before = new_record("deferred/before")
    sql_store.create_run_later(before)
    sql_store.create_run_later({**new_record("deferred/clash"), "id": taken["id"]})
    after = new_record("deferred/after")
    sql_store.create_run_later(after)
    sql_store.write_and_move(after["id"], _batch("b-after"), "completed")
    with caplog.at_level(logging.ERROR, logger="picidae"):
        names = {r["name"]: r["status"] for r in sql_store.list_runs(RunQuery())}
    assert names == {"deferred/taken": "running", "deferred/before": "running",
                     "deferred/after": "completed"}
    assert f"run {taken['id']} could not be recorded" in caplog.text


def test_a_delay_of_zero_writes_each_new_run_at_once(
        url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PICIDAE_NEW_RUN_DELAY_S", "0")
    run = picidae.init("deferred/zero", store=url, capture_env=False)
    assert _statuses_from_outside(url) == {run.id: "running"}
    run.finish()
    assert _statuses_from_outside(url) == {run.id: "completed"}


def test_flush_writes_a_new_run_at_once(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PICIDAE_NEW_RUN_DELAY_S", "30")
    run = picidae.init("deferred/flushed", store=url, capture_env=False)
    assert _statuses_from_outside(url) == {}
    run.flush()  # e.g. before a step that may kill the process
    assert _statuses_from_outside(url) == {run.id: "running"}
    run.finish()


def test_closing_the_store_writes_the_runs_that_wait(
        url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PICIDAE_NEW_RUN_DELAY_S", "30")
    run = picidae.init("deferred/closed", store=url, capture_env=False)
    run.finish()
    assert _statuses_from_outside(url) == {}
    run.store.close()
    assert _statuses_from_outside(url) == {run.id: "completed"}


def test_other_programs_see_a_new_run_within_the_delay(
        url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PICIDAE_NEW_RUN_DELAY_S", "0.05")
    run = picidae.init("deferred/soon", store=url, capture_env=False)
    deadline = time.monotonic() + 30  # the committer writes it without anyone asking
    while run.id not in _statuses_from_outside(url) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _statuses_from_outside(url) == {run.id: "running"}
    run.finish()


def test_another_program_attaches_to_a_run_that_still_waits(
        url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The id of a new run can reach another program before the run is written: attaching
    looks for it again for a moment instead of failing."""
    from picidae.sdk.api import attach_run
    from picidae.store.sql.postgres import PostgresStore

    monkeypatch.setenv("PICIDAE_NEW_RUN_DELAY_S", "0.3")
    run = picidae.init("deferred/handed-over", store=url, capture_env=False)
    # Another program's store: its own connections, none of this one's waiting runs.
    other = PostgresStore(url) if "://" in url else SqliteStore(Path(url))
    try:
        attached = attach_run(other, run.id)
        assert attached.id == run.id and attached.status == "running"
        attached.log(acc=0.5).finish()
        assert other.get_run(run.id)["status"] == "completed"
    finally:
        other.close()
    with pytest.raises(picidae.RunNotFound):  # an id no program made fails, in a moment
        attach_run(open_store(url), "no-such-run")


@pytest.mark.parametrize("raw", ["-1", "soon", "inf"])
def test_a_bad_delay_is_refused_in_one_line(raw: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PICIDAE_NEW_RUN_DELAY_S", raw)
    with pytest.raises(InvalidInput, match="PICIDAE_NEW_RUN_DELAY_S must be a number of "
                                           "seconds, 0 or more"):
        settings()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_sees_the_runs_its_parent_made(
        url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PICIDAE_NEW_RUN_DELAY_S", "30")
    run = picidae.init("deferred/forked", store=url, capture_env=False)
    pid = os.fork()
    if pid == 0:  # the child: another program's view of the database
        code = 0 if _statuses_from_outside(url).get(run.id) == "running" else 3
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    run.finish()


def test_a_busy_database_delays_new_runs_and_loses_none(
        store_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PICIDAE_NEW_RUN_DELAY_S", "0.01")
    store = open_store(store_dir)
    assert isinstance(store, SqliteStore)
    other = sqlite3.connect(store.db_path, isolation_level=None, check_same_thread=False)
    other.execute("BEGIN IMMEDIATE")  # another program holds the write lock for 0.5 s
    threading.Timer(0.5, other.execute, ["COMMIT"]).start()
    ids = []
    for i in range(20):
        run = picidae.init(f"deferred/busy/{i}", store=store_dir, capture_env=False)
        run.log(acc=float(i))
        run.finish()
        ids.append(run.id)
    assert {r.status for r in picidae.runs(store=store_dir, limit=100)} == {"completed"}
    assert [picidae.get_run(i, store=store_dir).metrics("acc").values for i in ids] == [
        [float(i)] for i in range(20)]
    other.close()


def test_runs_after_one_the_database_refused_wait_for_the_next_try() -> None:
    """A commit that fails falls back to one run at a time; when the database turns busy
    part-way, that run and every run after it wait for the next try (none is dropped)."""
    from contextlib import nullcontext

    from picidae.errors import StoreUnavailable
    from picidae.store.sql.deferred import Deferred, NewRun, Waiting

    written: list[str] = []
    busy = {"x"}

    def write(conn: Any, batch: list[Waiting]) -> None:
        ids = [w.new.run_id for w in batch]
        if len(ids) > 1:
            raise ValueError("one of these runs is bad")
        if ids[0] in busy:
            busy.discard(ids[0])
            raise StoreUnavailable("database is locked")
        written.extend(ids)

    deferred = Deferred(lambda: nullcontext(), write)
    for run_id in ("a", "x", "c"):
        new = NewRun(run_id, {}, {}, None, [], 0.0, {})
        deferred._waiting[run_id] = Waiting(new, None)  # as add() keeps them, no thread
    with pytest.raises(StoreUnavailable):
        deferred.settle()
    assert written == ["a"] and sorted(deferred._waiting) == ["c", "x"]
    deferred.settle()
    assert written == ["a", "x", "c"]
    assert not deferred
