"""The batch write on a SQL store: metric chunks, log lines, merges and field updates of one
run, in one transaction (the primitive the SDK's background writer uses).

A run that has ended refuses the batch (``lifecycle.write_refusal``), so a second process
cannot add to a finished record; a batch applied before the run ended is acknowledged when
it is retried after (its ``batch_id`` is remembered).
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import (
    Connection,
    Float,
    String,
    bindparam,
    case,
    delete,
    exists,
    insert,
    select,
    update,
)

from picidae.core import lifecycle
from picidae.core.lifecycle import RunFacts
from picidae.core.states import State
from picidae.core.validation import deep_merge
from picidae.store.base import Batch
from picidae.store.checks import check_batch
from picidae.store.lifecycle import refusal
from picidae.store.sql import chunks as chunkio
from picidae.store.sql import package_sets
from picidae.store.sql.base import fact_columns, facts, safe_text
from picidae.store.sql.deferred import End
from picidae.store.sql.documents import dumps
from picidae.store.sql.moves import Moves
from picidae.store.sql.prepared import Prepared
from picidae.store.sql.tables import (
    applied_batches,
    logs,
    metric_chunks,
    run_tags,
    runs,
)

_INSERT_CHUNKS = Prepared(insert(metric_chunks))
_INSERT_LOGS = insert(logs)
#: In a run's stored document (``dumps``: no spaces) when it names a primary metric.
_PRIMARY_SET = '"primary_metric":{'
_SET_DATA = update(runs).where(runs.c.id == bindparam("b_id"))
# Record a batch id unless it is there already; the row it returns (or not) says which.
_CLAIM_BATCH = Prepared(insert(applied_batches).from_select(
    ["batch_id", "run_id", "at"],
    select(bindparam("b_batch", type_=String), bindparam("b_run", type_=String),
           bindparam("b_at", type_=Float))
    .where(~exists().where(applied_batches.c.batch_id == bindparam("b_batch")))
).returning(applied_batches.c.batch_id))


# Built once (like _INSERT_CHUNKS): a W5 read of ten series spent a third of its time
# building and cache-keying this statement anew.
_CHUNKS_OF = (select(metric_chunks.c.stage, metric_chunks.c.n, metric_chunks.c.step_min,
                     metric_chunks.c.step_max, metric_chunks.c.ordered, metric_chunks.c.steps,
                     metric_chunks.c.vals, metric_chunks.c.times,
                     metric_chunks.c.codec)
              .where(metric_chunks.c.run_id == bindparam("c_run"),
                     metric_chunks.c.key == bindparam("c_key"))
              .order_by(metric_chunks.c.id))


def chunk_rows(conn: Connection, run_id: str, key: str) -> Any:
    """The stored chunks of one metric of a run, in write order."""
    return conn.execute(_CHUNKS_OF, {"c_run": run_id, "c_key": key})


class Writes(Moves):
    """The batch write (see the module docstring)."""

    def write(self, run_id: str, batch: Batch) -> None:
        """See ``Store.write``."""
        if batch.empty():
            return
        check_batch(batch)  # the same check on every store (store/checks.py)
        at = time.time()
        with self._tx(write=True) as conn:
            row = self._load_row(conn, run_id, lock=True)
            if batch.batch_id is not None and not self._first_time(conn, run_id, batch, at):
                return  # a retry of a batch already applied: acknowledge, change nothing
            refused = refusal(facts(row), batch)
            if refused is not None:
                raise refused  # the transaction (and the batch id) rolls back
            self._apply(conn, row, batch, at)

    def write_and_move(self, run_id: str, batch: Batch, to: str, *,
                       reason: str | None = None, actor: str | None = None,
                       failure: dict[str, Any] | None = None) -> str:
        """``write(run_id, batch)`` then ``transition(run_id, to, ...)`` in one transaction
        (the SDK's ``finish``: its last batch and the final state); returns the new status.
        Either both happen or neither does, so a caller that sees an error may fall back to
        the two calls and get exactly what they do."""
        target = lifecycle.parse_state(to)
        if not batch.empty():
            check_batch(batch)
        at = time.time()
        if self._deferred and self._end_waiting(run_id, batch, target, at=at, reason=reason,
                                                actor=actor, failure=failure):
            return target.value
        with self._tx(write=True) as conn:
            self._write_and_move_in(conn, run_id, batch, target, at=at, reason=reason,
                                    actor=actor, failure=failure)
        return target.value

    def _end_waiting(self, run_id: str, batch: Batch, target: State, *, at: float,
                     reason: str | None, actor: str | None,
                     failure: dict[str, Any] | None) -> bool:
        """End a run whose rows still wait (``create_run_later``) with them: checked now as
        ``_write_and_move_in`` would check it, written with them. False when they do not
        wait (any more)."""
        waiting = self._deferred.get(run_id)
        if waiting is None or waiting.new.row["workspace"] != self.workspace:
            return False  # (another workspace's run: the usual way says it is not found)
        row = waiting.new.row  # its columns as they will be written
        current = RunFacts(run_id, State(row["status"]), row["started_at"], None, None,
                           claimed=row["queue"] is not None)
        if not batch.empty():
            refused = refusal(current, batch)
            if refused is not None:
                raise refused
        lifecycle.require(run_id, current.status, target)
        return self._deferred.end(run_id, End(batch, target, at, reason, actor, failure))

    def _write_and_move_in(self, conn: Connection, run_id: str, batch: Batch,
                           target: State, *, at: float, reason: str | None,
                           actor: str | None, failure: dict[str, Any] | None,
                           claim: bool = True) -> None:
        """``write_and_move``'s work in the caller's transaction (the batch checked).
        ``claim=False``: the batch's id is not recorded (a new run's first and only batch,
        written with the run: nothing can have sent it before, nor will again)."""
        row = self._load_row(conn, run_id, lock=True)
        if not batch.empty() and (batch.batch_id is None or not claim
                                  or self._first_time(conn, run_id, batch, at)):
            refused = refusal(facts(row), batch)
            if refused is not None:
                raise refused
            if self._apply(conn, row, batch, at):
                row = self._load_row(conn, run_id)
        self._move(conn, row, target, reason=reason, actor=actor, at=at, failure=failure)

    def _apply(self, conn: Connection, row: Any, batch: Batch, at: float) -> bool:
        """Apply ``batch`` to the locked ``row``; True when the row itself changed."""
        run_id = row.id
        data: dict[str, Any] | None = None
        changed = False

        def doc() -> dict[str, Any]:
            nonlocal data
            if data is None:
                data = json.loads(row.data)
            return data

        if batch.chunks:
            self._write_chunks(conn, run_id, batch, row.data, doc)
        if batch.logs:
            conn.execute(_INSERT_LOGS, log_rows(run_id, batch))
        if batch.config:
            doc()["config"] = deep_merge(doc().get("config") or {}, batch.config)
            self._rewrite_fields(conn, row, "config", doc()["config"])
        if batch.summary:
            doc()["summary"] = deep_merge(doc().get("summary") or {}, batch.summary)
            self._rewrite_fields(conn, row, "summary", doc()["summary"])
            self._event(conn, "run.summary", run_id, at, {"summary": batch.summary})
        if batch.outputs:
            doc()["outputs"] = {**(doc().get("outputs") or {}), **batch.outputs}
        for name, value in batch.fields.items():
            if name in ("name", "alias"):  # columns, not part of the data document
                conn.execute(update(runs).where(runs.c.id == run_id).values({name: value}))
                changed = True
                continue
            doc()[name] = value
            if name == "tags":
                conn.execute(delete(run_tags).where(run_tags.c.run_id == run_id))
                if value:
                    conn.execute(insert(run_tags), [{"run_id": run_id, "tag": t}
                                                    for t in value])
            if name == "primary_metric" and value:
                self._rescore_primary(conn, run_id, doc())
        if data is not None:
            stored, columns = data, fact_columns(data)
            if "env" in batch.fields:  # a new environment: its packages stored once
                stored, columns["packages_digest"], _ = package_sets.store_split(conn, data)
            text = dumps(stored)
            if text != row.data or columns.get("packages_digest", row.packages_digest) \
                    != row.packages_digest:  # else only read (for the primary metric)
                conn.execute(_SET_DATA, {"b_id": run_id, "data": text, **columns})
                changed = True
            if batch.outputs or "inputs" in batch.fields or "outputs" in batch.fields:
                self._sync_lineage(conn, run_id, row.created_at, data)
        for alert in batch.alerts:
            self._event(conn, "run.alert", run_id, alert.get("at") or at, alert)
        if batch.heartbeat_at is not None:
            self._heartbeat(conn, self._load_row(conn, run_id), batch.heartbeat_at)
            changed = True
        return changed

    @staticmethod
    def _first_time(conn: Connection, run_id: str, batch: Batch, at: float) -> bool:
        """Record the batch id; False when it was applied before (one statement: the
        insert only happens when the id is not there yet)."""
        claimed = _CLAIM_BATCH.first(conn, {"b_batch": batch.batch_id, "b_run": run_id,
                                            "b_at": at})
        if claimed is None:
            return False
        if random.random() < 0.001:  # now and then, forget ids older than a week
            conn.execute(delete(applied_batches).where(applied_batches.c.at < at - 7 * 86400))
        return True

    def _write_chunks(self, conn: Connection, run_id: str, batch: Batch, row_data: str,
                      doc: Callable[[], dict[str, Any]]) -> None:
        rows, latest = point_tuples(run_id, batch)
        if not rows:
            return
        _INSERT_CHUNKS.run_rows(conn, chunkio.CHUNK_COLUMNS, rows)
        self._upsert_latest(conn, latest)
        # Most runs name no primary metric: skip parsing their whole document (it holds the
        # environment and packages) when its text shows none.
        if _PRIMARY_SET not in row_data:
            return
        primary = doc().get("primary_metric")
        if primary and any(r[1] == primary.get("name") for r in latest):  # the key
            key = primary["name"]
            found = None
            for chunk in batch.chunks:
                if chunk.key == key and chunk.steps:
                    cand = chunkio.best_point(chunk.values, chunk.steps, primary["mode"])
                    if cand and (found is None or _better(cand[0], found[0], primary["mode"])):
                        found = cand
            if found and (primary.get("best") is None
                          or _better(found[0], primary["best"], primary["mode"])):
                primary["best"], primary["step"] = found
                doc()["primary_metric"] = primary

    def _rescore_primary(self, conn: Connection, run_id: str, data: dict[str, Any]) -> None:
        primary = data["primary_metric"]
        series = chunkio.read_series(primary["name"], chunk_rows(conn, run_id,
                                                                 primary["name"]))
        found = chunkio.best_point(series.values, series.steps, primary["mode"])
        primary["best"], primary["step"] = found if found else (None, None)


#: The ``metric_latest`` columns, in the order ``point_tuples``' latest rows give them.
LATEST_COLUMNS = ("run_id", "key", "step", "value", "time", "stage", "count")


def point_tuples(run_id: str, batch: Batch,
                 ) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The ``metric_chunks`` rows of a batch's points and the ``metric_latest`` rows they
    make (each key's last point and its count), as tuples of ``chunks.CHUNK_COLUMNS``' and
    ``LATEST_COLUMNS``' values (as ``Prepared.run_rows`` takes them)."""
    rows: list[tuple[Any, ...]] = []
    latest: dict[str, list[Any]] = {}
    memo: dict[bytes, chunkio.StepsInfo] = {}  # keys logged together share steps
    columns: dict[bytes, bytes] = {}  # ... and times
    for chunk in batch.chunks:
        n = len(chunk.steps)
        if not n:
            continue
        mine = chunkio.chunk_tuples(run_id, chunk, memo, columns)
        rows += mine
        top = mine[0][5] if len(mine) == 1 else max(r[5] for r in mine)  # step_max
        step, value, t, stage = chunkio.latest_point(chunk, top)
        prev = latest.get(chunk.key)
        if prev is None or step >= prev[2]:
            latest[chunk.key] = [run_id, chunk.key, step, None if math.isnan(value) else value,
                                 t, stage, n + (prev[6] if prev else 0)]
        else:
            prev[6] += n
    return rows, [tuple(r) for r in latest.values()]


def log_rows(run_id: str, batch: Batch) -> list[dict[str, Any]]:
    """The ``logs`` rows of a batch's lines."""
    return [{"run_id": run_id, "time": ln.time, "stream": ln.stream[:16],
             "line": safe_text(ln.text)} for ln in batch.logs]


def _better(a: float, b: float, mode: str) -> bool:
    return a > b if mode == "max" else a < b


def latest_set(stmt: Any, table: Any) -> dict[str, Any]:
    """The ``SET`` of the latest-point upsert (``stmt`` is a dialect's ``INSERT``): the new
    point wins when its step is at least the stored one; the point count always adds up.
    Shared by the SQLite and PostgreSQL stores, whose ``on_conflict_do_update`` agree."""
    newer = stmt.excluded.step >= table.c.step
    return {
        "step": case((newer, stmt.excluded.step), else_=table.c.step),
        "value": case((newer, stmt.excluded.value), else_=table.c.value),
        "time": case((newer, stmt.excluded.time), else_=table.c.time),
        "stage": case((newer, stmt.excluded.stage), else_=table.c.stage),
        "count": table.c.count + stmt.excluded.count,
    }
