"""``SqlStore``: the Store protocol over SQLAlchemy Core, shared by SQLite and PostgreSQL.

Dialect differences (pragmas, locking, upserts) live in ``sqlite.py`` and ``postgres.py``;
this module writes portable SQL only. Every write is one transaction; every state change is a
conditional update, so two processes racing for one run get an ordinary ``IllegalTransition``.
"""

from __future__ import annotations

import copy
import json
import math
import random
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    and_,
    bindparam,
    case,
    delete,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.exc import DBAPIError, OperationalError

from picidae.core import lifecycle
from picidae.core.run import COLUMN_FIELDS, DATA_DEFAULTS, DATA_FIELDS, LogLine, duration_s
from picidae.core.states import LEASED, LIVE, TERMINAL, State
from picidae.core.validation import deep_merge, flatten
from picidae.errors import IllegalTransition, InvalidInput, RunNotFound, StoreUnavailable
from picidae.settings import settings
from picidae.store.base import Batch, MetricSeries, RunQuery
from picidae.store.sql import artifact_rows, lineage
from picidae.store.sql import chunks as chunkio
from picidae.store.sql import query as q
from picidae.store.sql.event_log import EventReader
from picidae.store.sql.tables import (
    applied_batches,
    artifacts,
    events,
    logs,
    metric_chunks,
    metric_latest,
    run_fields,
    run_io,
    run_stale,
    run_tags,
    runs,
    transitions,
)
from picidae.store.sql.tokens import TokenTable

_RUN_COLUMNS = set(COLUMN_FIELDS)

# The statements every run's create, write and finish repeat, built once: on SQLite, building a
# statement (and its cache key) costs several times more than executing it.
_INSERT_EVENT = insert(events)
_INSERT_RUN = insert(runs)
_INSERT_TRANSITION = insert(transitions)
_INSERT_CHUNKS = insert(metric_chunks)
_RUN_EXISTS = select(runs.c.id).where(runs.c.id == bindparam("b_id"))
_LOAD_ROW = select(runs).where(runs.c.id == bindparam("b_id"),
                               runs.c.workspace == bindparam("b_ws"))
_LOAD_ROW_LOCKED = _LOAD_ROW.with_for_update()
_TRANSITIONS = (select(transitions).where(transitions.c.run_id == bindparam("b_id"))
                .order_by(transitions.c.id))
# SET takes the columns named in the parameters; the WHERE makes the move conditional.
_MOVE = update(runs).where(runs.c.id == bindparam("b_id"),
                           runs.c.status == bindparam("b_status"))


# A heartbeat on a run neither lost nor ended: stamp it and say its status, in one statement.
_BEAT = (update(runs)
         .where(runs.c.id == bindparam("b_id"), runs.c.workspace == bindparam("b_ws"),
                runs.c.status.not_in([State.LOST.value, State.ARCHIVED.value,
                                      *sorted(s.value for s in TERMINAL)]))
         .values(last_heartbeat_at=bindparam("b_at"))
         .returning(runs.c.status))


def dumps(value: Any) -> str:
    """JSON for stored documents; NaN and infinities survive (summary values may be NaN)."""
    return json.dumps(value, separators=(",", ":"), allow_nan=True)


def safe_text(value: str | None) -> str | None:
    """Text without NUL characters: PostgreSQL's text types cannot hold them (SQLite can), so
    every store writes U+FFFD in their place and gives the same answer back."""
    if value is None or "\x00" not in value:
        return value
    return value.replace("\x00", "\ufffd")


def _field_rows(run_id: str, section: str, data: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for key, value in flatten(data).items():
        num: float | None = None
        text: str | None = None
        if isinstance(value, bool):
            num, text = float(value), "true" if value else "false"
        elif isinstance(value, int | float):
            num = float(value)
            if math.isnan(num):
                num = None
        elif isinstance(value, str):
            text = safe_text(value)
        elif value is not None:
            text = dumps(value)
        rows.append({"run_id": run_id, "section": section, "key": key[:256], "num": num,
                     "text": text})
    return rows


class SqlStore:
    """A store on a SQL database (see the module docstring)."""

    dialect_name = "sql"

    def __init__(self, engine: Engine, url: str, *, liveness_on_read: bool = True,
                 workspace: str = "default") -> None:
        self.engine = engine
        self.url = url
        self.workspace = workspace
        self.liveness_on_read = liveness_on_read
        self._liveness_lock = threading.Lock()

    # -- plumbing -----------------------------------------------------------------------

    @contextmanager
    def _tx(self, write: bool = False) -> Iterator[Connection]:
        try:
            with self.engine.connect() as conn:
                if write:
                    conn.execution_options(picidae_write=True)
                with conn.begin():
                    yield conn
        except OperationalError as exc:
            raise StoreUnavailable(f"store {self.url} is unavailable: {exc.orig}") from exc
        except DBAPIError as exc:
            if exc.connection_invalidated:
                raise StoreUnavailable(f"store {self.url} dropped the connection") from exc
            raise

    def _upsert_latest(self, conn: Connection, rows: list[dict[str, Any]]) -> None:
        raise NotImplementedError  # each dialect's module provides it

    def _event(self, conn: Connection, kind: str, run_id: str | None, at: float,
               payload: dict[str, Any]) -> None:
        conn.execute(_INSERT_EVENT, {"workspace": self.workspace, "run_id": run_id,
                                     "type": kind, "at": at, "payload": dumps(payload)})

    @staticmethod
    def _record(row: Any, now: float | None = None) -> dict[str, Any]:
        rec = {name: row._mapping[name] for name in COLUMN_FIELDS}
        data = json.loads(row.data)
        for name in DATA_FIELDS:
            rec[name] = data.get(name, DATA_DEFAULTS[name])
        rec["duration_s"] = duration_s(rec, time.time() if now is None else now)
        return rec

    def _load_row(self, conn: Connection, run_id: str, *, lock: bool = False) -> Any:
        stmt = _LOAD_ROW_LOCKED if lock else _LOAD_ROW
        row = conn.execute(stmt, {"b_id": run_id, "b_ws": self.workspace}).first()
        if row is None:
            raise RunNotFound(run_id)
        return row

    def _transitions(self, conn: Connection, run_id: str) -> list[dict[str, Any]]:
        rows = conn.execute(_TRANSITIONS, {"b_id": run_id})
        return [{"from": r.from_state, "to": r.to_state, "at": r.at, "reason": r.reason,
                 "actor": r.actor} for r in rows]

    # -- runs ---------------------------------------------------------------------------

    def create_run(self, record: dict[str, Any]) -> dict[str, Any]:
        """See ``Store.create_run``."""
        run_id = record["id"]
        row = {name: record.get(name) for name in COLUMN_FIELDS if name != "workspace"}
        row["workspace"] = self.workspace
        row["attempt"] = record.get("attempt") or 1
        data = {name: record.get(name, DATA_DEFAULTS[name]) for name in DATA_FIELDS}
        row["data"] = dumps(data)
        with self._tx(write=True) as conn:
            if conn.execute(_RUN_EXISTS, {"b_id": run_id}).first() is not None:
                raise InvalidInput(f"a run with id {run_id!r} exists already", field="id")
            conn.execute(_INSERT_RUN, row)
            fields = (_field_rows(run_id, "config", data["config"])
                      + _field_rows(run_id, "summary", data["summary"]))
            if fields:
                conn.execute(insert(run_fields), fields)
            if data["tags"]:
                conn.execute(insert(run_tags), [{"run_id": run_id, "tag": t}
                                                for t in data["tags"]])
            moves = record.get("transitions") or []
            if moves:
                conn.execute(insert(transitions), [
                    {"run_id": run_id, "from_state": t["from"], "to_state": t["to"],
                     "at": t["at"], "reason": safe_text(t.get("reason")),
                     "actor": t.get("actor")}
                    for t in moves])
            self._event(conn, "run.created", run_id, record["created_at"],
                        {"name": record["name"], "status": record["status"],
                         "parent_id": record.get("parent_id")})
            for t in moves:
                self._event(conn, "run.transition", run_id, t["at"],
                            {"from": t["from"], "to": t["to"], "reason": t.get("reason"),
                             "actor": t.get("actor")})
            if data["inputs"] or data["outputs"]:
                self._sync_lineage(conn, run_id, record["created_at"], data)
            rec = self._record(self._load_row(conn, run_id))
            rec["transitions"] = self._transitions(conn, run_id)
        return rec

    def get_run(self, run_id: str) -> dict[str, Any]:
        """See ``Store.get_run``."""
        if not isinstance(run_id, str) or not run_id:
            raise RunNotFound(str(run_id))
        self._maybe_apply_liveness()
        with self._tx() as conn:
            rec = self._record(self._load_row(conn, run_id))
            rec["transitions"] = self._transitions(conn, run_id)
            rec["stale"] = lineage.stale_of(conn, [run_id]).get(run_id)
        return rec

    def get_transitions(self, run_id: str) -> list[dict[str, Any]]:
        """The run's transitions, oldest first."""
        with self._tx() as conn:
            return self._transitions(conn, run_id)

    def list_runs(self, query: RunQuery) -> list[dict[str, Any]]:
        """See ``Store.list_runs``."""
        query.workspace = self.workspace
        self._maybe_apply_liveness()
        now = time.time()
        with self._tx() as conn:
            found = [self._record(r, now) for r in q.run_rows(conn, query)]
            stale = lineage.stale_of(conn, [rec["id"] for rec in found])
        for rec in found:
            rec["stale"] = stale.get(rec["id"])
        return found

    def count_runs(self, query: RunQuery) -> int:
        """See ``Store.count_runs``."""
        query.workspace = self.workspace
        with self._tx() as conn:
            return int(conn.execute(q.count_statement(query)).scalar_one())

    def delete_runs(self, run_ids: list[str]) -> list[str]:
        """See ``Store.delete_runs``."""
        if not run_ids:
            return []
        with self._tx(write=True) as conn:
            # Lock the runs first, in id order, as every writer does (run row, then what it
            # owns): deleting owned rows first deadlocks against a concurrent batch write.
            found = [r.id for r in conn.execute(select(runs.c.id).where(
                runs.c.id.in_(run_ids), runs.c.workspace == self.workspace)
                .order_by(runs.c.id).with_for_update())]
            self._delete_rows(conn, found)
        return found

    def _delete_rows(self, conn: Connection, found: list[str]) -> None:
        """Delete locked runs and everything they own; recompute staleness if they had
        lineage."""
        if not found:
            return
        had_lineage = conn.execute(select(run_io.c.id).where(run_io.c.run_id.in_(found))
                                   .limit(1)).first() is not None
        if had_lineage:
            self._lock_lineage(conn)  # before touching run_stale: see _lock_lineage
        for table in (transitions, run_fields, run_tags, metric_chunks, metric_latest, logs,
                      artifacts, applied_batches, run_io, run_stale):
            conn.execute(delete(table).where(table.c.run_id.in_(found)))
        conn.execute(delete(runs).where(runs.c.id.in_(found)))
        for run_id in found:
            self._event(conn, "run.deleted", run_id, time.time(), {})
        if had_lineage:
            lineage.refresh(conn, self.workspace)

    # -- lifecycle ----------------------------------------------------------------------

    def _move(self, conn: Connection, row: Any, to: State, *, reason: str | None,
              actor: str | None, at: float, failure: dict[str, Any] | None = None) -> None:
        """Apply a checked transition to a locked row: columns, data, transition row, event."""
        current = State(row.status)
        lost_from = State(row.lost_from) if row.lost_from else None
        lifecycle.require(row.id, current, to, lost_from=lost_from)
        values: dict[str, Any] = {"status": to.value}
        if row.started_at is None and to not in TERMINAL and to is not State.LOST:
            values["started_at"] = at
        if to in LIVE:
            values["last_heartbeat_at"] = at
        if to is State.LOST:
            values["lost_at"] = at
            values["lost_from"] = current.value
        elif current is State.LOST:
            values["lost_at"] = None
            values["lost_from"] = None
        if to in TERMINAL:
            values["ended_at"] = at
        if to is State.FAILED:
            data = json.loads(row.data)
            fail = dict(failure or {})
            fail.setdefault("reason", reason or "error")
            data["failure"] = fail
            values["data"] = dumps(data)
        result = conn.execute(_MOVE, {"b_id": row.id, "b_status": current.value, **values})
        if result.rowcount != 1:  # another writer moved it between our read and write
            now_row = self._load_row(conn, row.id)
            lifecycle.require(row.id, State(now_row.status), to)
            raise IllegalTransition(row.id, now_row.status, to.value, [])
        conn.execute(_INSERT_TRANSITION, {"run_id": row.id, "from_state": current.value,
                                          "to_state": to.value, "at": at,
                                          "reason": safe_text(reason), "actor": actor})
        self._event(conn, "run.transition", row.id, at,
                    {"from": current.value, "to": to.value, "reason": reason, "actor": actor})

    def transition(self, run_id: str, to: str, *, reason: str | None = None,
                   actor: str | None = None, at: float | None = None,
                   failure: dict[str, Any] | None = None,
                   expect: set[str] | None = None) -> dict[str, Any]:
        """See ``Store.transition``."""
        target = lifecycle.parse_state(to)
        at = time.time() if at is None else at
        with self._tx(write=True) as conn:
            row = self._load_row(conn, run_id, lock=True)
            if expect is not None and row.status not in expect:
                raise IllegalTransition(run_id, row.status, target.value, sorted(expect))
            self._move(conn, row, target, reason=reason, actor=actor, at=at, failure=failure)
            rec = self._record(self._load_row(conn, run_id))
            rec["transitions"] = self._transitions(conn, run_id)
        return rec

    def _heartbeat(self, conn: Connection, row: Any, at: float) -> str:
        status = State(row.status)
        if status is State.LOST:
            window = settings().lost_window_s
            if row.lost_at is not None and at - row.lost_at > window:
                self._move(conn, row, State.FAILED, reason="lost", actor="watchdog", at=at,
                           failure={"reason": "lost", "message":
                                    f"no heartbeat within the {window:g}s recovery window"})
                return State.FAILED.value
            target = State(row.lost_from or State.RUNNING.value)
            self._move(conn, row, target, reason="heartbeat received", actor="heartbeat", at=at)
            return target.value
        if status in TERMINAL or status is State.ARCHIVED:
            return status.value
        conn.execute(update(runs).where(runs.c.id == row.id).values(last_heartbeat_at=at))
        return status.value

    def heartbeat(self, run_id: str, at: float | None = None) -> str:
        """See ``Store.heartbeat``. The usual case (a live run) is one conditional UPDATE;
        a lost, ended or unknown run takes the full path."""
        at = time.time() if at is None else at
        with self._tx(write=True) as conn:
            status = conn.execute(_BEAT, {"b_id": run_id, "b_ws": self.workspace,
                                          "b_at": at}).scalar()
            if status is not None:
                return str(status)
            return self._heartbeat(conn, self._load_row(conn, run_id, lock=True), at)

    def _maybe_apply_liveness(self) -> None:
        if self.liveness_on_read:
            self.apply_liveness()

    def apply_liveness(self, now: float | None = None) -> list[tuple[str, str, str]]:
        """See ``Store.apply_liveness``."""
        cfg = settings()
        now = time.time() if now is None else now
        overdue = or_(
            and_(runs.c.status.in_([s.value for s in LIVE]),
                 runs.c.last_heartbeat_at < now - cfg.heartbeat_timeout_s),
            # Claimed by a worker (it has a queue) that went silent before the command ran.
            and_(runs.c.status.in_([s.value for s in LEASED]), runs.c.queue.is_not(None),
                 runs.c.last_heartbeat_at < now - cfg.heartbeat_timeout_s),
            and_(runs.c.status == State.LOST.value, runs.c.lost_at < now - cfg.lost_window_s),
        )
        with self._tx() as conn:
            ids = [r.id for r in conn.execute(select(runs.c.id).where(overdue))]
        if not ids:
            return []
        moves: list[tuple[str, str, str]] = []
        with self._liveness_lock, self._tx(write=True) as conn:
            for row in conn.execute(select(runs).where(runs.c.id.in_(ids), overdue)
                                    .with_for_update(skip_locked=True)).all():
                target = lifecycle.liveness_target(
                    State(row.status), now=now, last_heartbeat_at=row.last_heartbeat_at,
                    lost_at=row.lost_at, timeout_s=cfg.heartbeat_timeout_s,
                    window_s=cfg.lost_window_s, claimed=row.queue is not None)
                if target is State.FAILED and row.status in LEASED:
                    # A worker claimed it and went silent before the command ran.
                    self._move(conn, row, target, reason="lost", actor="watchdog", at=now,
                               failure={"reason": "lost", "message":
                                        f"the worker holding it ({row.status}) sent no "
                                        f"heartbeat for {now - row.last_heartbeat_at:.0f}s"})
                    moves.append((row.id, row.status, target.value))
                    continue
                if target is State.LOST:
                    silent = now - row.last_heartbeat_at
                    # Lost when the timeout expired, not when someone happened to read the
                    # store: a run silent past timeout + window fails on this same read.
                    lost_at = min(now, row.last_heartbeat_at + cfg.heartbeat_timeout_s)
                    self._move(conn, row, target, actor="watchdog", at=lost_at,
                               reason=f"no heartbeat for {silent:.0f}s "
                                      f"(timeout {cfg.heartbeat_timeout_s:g}s)")
                    moves.append((row.id, row.status, target.value))
                    if now - lost_at <= cfg.lost_window_s:
                        continue
                    row = self._load_row(conn, row.id)
                    target = State.FAILED
                if target is State.FAILED:
                    self._move(conn, row, target, reason="lost", actor="watchdog", at=now,
                               failure={"reason": "lost", "message":
                                        f"lost for over {cfg.lost_window_s:g}s without a "
                                        "heartbeat"})
                else:
                    continue
                moves.append((row.id, row.status, target.value))
        return moves

    # -- the batch write ----------------------------------------------------------------

    def write(self, run_id: str, batch: Batch) -> None:
        """See ``Store.write``."""
        if batch.empty():
            return
        at = time.time()
        with self._tx(write=True) as conn:
            row = self._load_row(conn, run_id, lock=True)
            if batch.batch_id is not None and not self._first_time(conn, run_id, batch, at):
                return  # a retry of a batch already applied: acknowledge, change nothing
            data: dict[str, Any] | None = None

            def doc() -> dict[str, Any]:
                nonlocal data
                if data is None:
                    data = json.loads(row.data)
                return data

            if batch.chunks:
                self._write_chunks(conn, run_id, batch, doc)
            if batch.logs:
                conn.execute(insert(logs), [{"run_id": run_id, "time": ln.time,
                                             "stream": ln.stream[:16],
                                             "line": safe_text(ln.text)}
                                            for ln in batch.logs])
            if batch.config:
                doc()["config"] = deep_merge(doc().get("config") or {}, batch.config)
                self._rewrite_fields(conn, run_id, "config", doc()["config"])
            if batch.summary:
                doc()["summary"] = deep_merge(doc().get("summary") or {}, batch.summary)
                self._rewrite_fields(conn, run_id, "summary", doc()["summary"])
                self._event(conn, "run.summary", run_id, at, {"summary": batch.summary})
            if batch.outputs:
                doc()["outputs"] = {**(doc().get("outputs") or {}), **batch.outputs}
            for name, value in batch.fields.items():
                if name in ("name", "alias"):  # columns, not part of the data document
                    conn.execute(update(runs).where(runs.c.id == run_id).values({name: value}))
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
                text = dumps(data)
                if text != row.data:  # only read (for the primary metric): nothing to rewrite
                    conn.execute(update(runs).where(runs.c.id == run_id).values(data=text))
                if batch.outputs or "inputs" in batch.fields or "outputs" in batch.fields:
                    self._sync_lineage(conn, run_id, row.created_at, data)
            if batch.heartbeat_at is not None:
                self._heartbeat(conn, self._load_row(conn, run_id), batch.heartbeat_at)

    @staticmethod
    def _first_time(conn: Connection, run_id: str, batch: Batch, at: float) -> bool:
        """Record the batch id; False when it was applied before."""
        seen = conn.execute(select(applied_batches.c.batch_id)
                            .where(applied_batches.c.batch_id == batch.batch_id)).first()
        if seen is not None:
            return False
        conn.execute(insert(applied_batches).values(batch_id=batch.batch_id, run_id=run_id,
                                                    at=at))
        if random.random() < 0.001:  # now and then, forget ids older than a week
            conn.execute(delete(applied_batches).where(applied_batches.c.at < at - 7 * 86400))
        return True

    def _rewrite_fields(self, conn: Connection, run_id: str, section: str,
                        data: dict[str, Any]) -> None:
        conn.execute(delete(run_fields).where(run_fields.c.run_id == run_id,
                                              run_fields.c.section == section))
        rows = _field_rows(run_id, section, data)
        if rows:
            conn.execute(insert(run_fields), rows)

    def _write_chunks(self, conn: Connection, run_id: str, batch: Batch, doc: Any) -> None:
        rows: list[dict[str, Any]] = []
        latest: dict[str, dict[str, Any]] = {}
        for chunk in batch.chunks:
            if not chunk.steps:
                continue
            rows.extend(chunkio.chunk_rows(run_id, chunk))
            step, value, t, stage = chunkio.latest_point(chunk)
            prev = latest.get(chunk.key)
            if prev is None or step >= prev["step"]:
                count = len(chunk.steps) + (prev["count"] if prev else 0)
                latest[chunk.key] = {"run_id": run_id, "key": chunk.key, "step": step,
                                     "value": None if math.isnan(value) else value,
                                     "time": t, "stage": stage, "count": count}
            else:
                prev["count"] += len(chunk.steps)
        if not rows:
            return
        conn.execute(_INSERT_CHUNKS, rows)
        self._upsert_latest(conn, list(latest.values()))
        primary = doc().get("primary_metric")
        if primary and primary.get("name") in latest:
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
        series = chunkio.read_series(primary["name"], self._chunk_rows(conn, run_id,
                                                                       primary["name"]))
        found = chunkio.best_point(series.values, series.steps, primary["mode"])
        primary["best"], primary["step"] = found if found else (None, None)

    # -- lineage and staleness (see store/sql/lineage.py) -------------------------------

    def _lock_lineage(self, conn: Connection) -> None:
        """Serialise staleness recomputes. SQLite's write lock already does; PostgreSQL
        takes an advisory lock. Taken after the run rows a write locks and before any
        ``run_stale`` row, so it never closes a cycle of waits."""

    def _sync_lineage(self, conn: Connection, run_id: str, created_at: float,
                      data: dict[str, Any]) -> None:
        if lineage.sync(conn, run_id, created_at, data.get("inputs"), data.get("outputs")):
            self._lock_lineage(conn)
            lineage.refresh(conn, self.workspace)

    def lineage(self, run_id: str, *, max_nodes: int = lineage.MAX_NODES) -> dict[str, Any]:
        """See ``Store.lineage``."""
        with self._tx() as conn:
            self._load_row(conn, run_id)
            return lineage.graph(conn, self.workspace, run_id, max_nodes=max_nodes)

    def referrers(self, run_ids: list[str]) -> list[dict[str, Any]]:
        """See ``Store.referrers``."""
        with self._tx() as conn:
            return lineage.referrers(conn, self.workspace, list(run_ids))

    def purge_runs(self, run_ids: list[str]) -> dict[str, Any]:
        """See ``Store.purge_runs``."""
        from picidae.store.sql import retention

        return retention.purge(self, run_ids)

    # -- metrics and logs ---------------------------------------------------------------

    @staticmethod
    def _chunk_rows(conn: Connection, run_id: str, key: str) -> Any:
        return conn.execute(
            select(metric_chunks.c.stage, metric_chunks.c.n, metric_chunks.c.step_min,
                   metric_chunks.c.step_max, metric_chunks.c.ordered, metric_chunks.c.steps,
                   metric_chunks.c.vals, metric_chunks.c.times)
            .where(metric_chunks.c.run_id == run_id, metric_chunks.c.key == key)
            .order_by(metric_chunks.c.id))

    def metrics(self, run_id: str, key: str) -> MetricSeries:
        """See ``Store.metrics``."""
        with self._tx() as conn:
            return chunkio.read_series(key, self._chunk_rows(conn, run_id, key))

    def metric_keys(self, run_id: str) -> list[str]:
        """See ``Store.metric_keys``."""
        with self._tx() as conn:
            return sorted(r.key for r in conn.execute(
                select(metric_latest.c.key).where(metric_latest.c.run_id == run_id)))

    def latest_metrics(self, run_ids: list[str]) -> dict[str, dict[str, float]]:
        """See ``Store.latest_metrics``."""
        out: dict[str, dict[str, float]] = {rid: {} for rid in run_ids}
        if not run_ids:
            return out
        with self._tx() as conn:
            for lo in range(0, len(run_ids), 500):
                part = run_ids[lo:lo + 500]
                for r in conn.execute(select(metric_latest.c.run_id, metric_latest.c.key,
                                             metric_latest.c.value)
                                      .where(metric_latest.c.run_id.in_(part))):
                    out[r.run_id][r.key] = math.nan if r.value is None else r.value
        return out

    def logs(self, run_id: str, offset: int = 0, limit: int | None = None) -> list[LogLine]:
        """See ``Store.logs``."""
        stmt = (select(logs.c.time, logs.c.stream, logs.c.line).where(logs.c.run_id == run_id)
                .order_by(logs.c.id).offset(max(0, offset)))
        if limit is not None:
            stmt = stmt.limit(limit)
        with self._tx() as conn:
            return [LogLine(r.time, r.stream, r.line) for r in conn.execute(stmt)]

    # -- workspaces and events ----------------------------------------------------------

    def for_workspace(self, workspace: str) -> SqlStore:
        """The same database seen as another workspace (sharing the connection pool)."""
        other = copy.copy(self)
        other.workspace = workspace
        return other

    def run_workspace(self, run_id: str) -> str | None:
        """The workspace a run id belongs to, whichever this store is bound to (``None``
        for an unknown id): a server answers 403, not 404, for another workspace's run."""
        with self._tx() as conn:
            return conn.execute(select(runs.c.workspace).where(runs.c.id == run_id)).scalar()

    def owned_run_ids(self, run_ids: list[str]) -> list[str]:
        """The ids among ``run_ids`` that are runs of this store's workspace."""
        ids = sorted({r for r in run_ids if isinstance(r, str)})
        found: list[str] = []
        with self._tx() as conn:
            for lo in range(0, len(ids), 500):
                found += conn.execute(select(runs.c.id).where(
                    runs.c.id.in_(ids[lo:lo + 500]), runs.c.workspace == self.workspace)
                ).scalars()
        return found

    def last_event_id(self) -> int:
        """The id of the newest event (0 when there is none)."""
        with self._tx() as conn:
            return int(conn.execute(select(func.coalesce(func.max(events.c.id), 0))).scalar_one())

    def event_reader(self, after: int, *, run_id: str | None = None) -> EventReader:
        """See ``EventSource.event_reader`` (``store/sql/event_log.py``)."""
        return EventReader(self, after, run_id=run_id)

    def tokens(self) -> TokenTable:
        """See ``TokenStore.tokens`` (``store/sql/tokens.py``)."""
        return TokenTable(self)

    def events_since(self, after: int, limit: int = 500,
                     run_id: str | None = None) -> list[dict[str, Any]]:
        """This workspace's events with an id above ``after``, oldest first."""
        stmt = (select(events).where(events.c.id > after, events.c.workspace == self.workspace)
                .order_by(events.c.id).limit(limit))
        if run_id is not None:
            stmt = stmt.where(events.c.run_id == run_id)
        with self._tx() as conn:
            return [{"id": r.id, "type": r.type, "run_id": r.run_id, "at": r.at,
                     "payload": json.loads(r.payload)} for r in conn.execute(stmt)]

    # -- work for workers (see store/sql/queue.py) --------------------------------------

    def claim(self, worker: str, *, queue: str = "default",
              limit: int = 1) -> list[dict[str, Any]]:
        """See ``Store.claim``."""
        from picidae.store.sql import queue as work

        return work.claim(self, worker, queue=queue, limit=limit)

    def add_flow(self, name: str, spec: dict[str, Any]) -> dict[str, Any]:
        """See ``Store.add_flow``."""
        from picidae.store.sql import queue as work

        return work.add_flow(self, name, spec)

    def get_flow(self, name: str, version: int | None = None) -> dict[str, Any]:
        """See ``Store.get_flow``."""
        from picidae.store.sql import queue as work

        return work.get_flow(self, name, version)

    def list_flows(self) -> list[dict[str, Any]]:
        """See ``Store.list_flows``."""
        from picidae.store.sql import queue as work

        return work.list_flows(self)

    # -- artifacts ----------------------------------------------------------------------

    def add_artifact(self, run_id: str, record: dict[str, Any]) -> dict[str, Any]:
        """See ``Store.add_artifact``."""
        rec = artifact_rows.clean_record(record)
        with self._tx(write=True) as conn:
            self._load_row(conn, run_id, lock=True)
            stored = artifact_rows.insert_artifact(conn, run_id, rec)
            self._event(conn, "run.artifact", run_id, rec["created_at"],
                        {"artifact_id": stored["id"], "name": rec["name"],
                         "artifact_type": rec["type"],
                         "kind": rec["kind"], "digest": rec["digest"], "size": rec["size"],
                         "step": rec["step"]})
        return stored

    def list_artifacts(self, run_id: str) -> list[dict[str, Any]]:
        """See ``Store.list_artifacts``."""
        with self._tx() as conn:
            self._load_row(conn, run_id)
            return artifact_rows.read_artifacts(conn, run_id)

    def references_blob(self, digest: str) -> bool:
        """Whether an artifact of a run of this workspace (a file, image or folder member)
        has this content digest."""
        with self._tx() as conn:
            return artifact_rows.referenced(conn, self.workspace, digest)

    def close(self) -> None:
        """See ``Store.close``."""
        self.engine.dispose()


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
