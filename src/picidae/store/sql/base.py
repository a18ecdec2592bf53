"""``SqlBase``: what every part of the SQL store shares — transactions, error translation,
row loading, events, and the document helpers (``dumps``, ``safe_text``, ``field_rows``).

``SqlStore`` (``store.py``) is assembled from this base and its parts: transitions and
heartbeats (``moves.py``), the batch write (``writes.py``), reads and the rest (``store.py``).
Dialect differences (pragmas, locking, upserts) live in ``sqlite.py`` and ``postgres.py``.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Connection, Engine, Float, bindparam, delete, insert, select
from sqlalchemy.exc import DBAPIError, OperationalError

from picidae.core import stats
from picidae.core.lifecycle import RunFacts
from picidae.core.run import COLUMN_FIELDS, DATA_FIELDS, data_default, duration_s
from picidae.core.states import State
from picidae.core.validation import flatten
from picidae.core.where import stored_value
from picidae.errors import RunNotFound, StoreUnavailable
from picidae.settings import settings
from picidae.store.sql import lineage, package_sets
from picidae.store.sql.deferred import Deferred, Waiting, _open, in_transaction
from picidae.store.sql.documents import dumps
from picidae.store.sql.prepared import Prepared
from picidae.store.sql.tables import events, run_fields, runs, transitions

if TYPE_CHECKING:
    from picidae.store.base import Store

# The statements every run's create, write and finish repeat, built once: on SQLite, building a
# statement (and its cache key) costs several times more than executing it.
_INSERT_EVENT = Prepared(insert(events))
_LOAD_ROW = select(runs, package_sets.PACKAGES).where(runs.c.id == bindparam("b_id"),
                                                     runs.c.workspace == bindparam("b_ws"))
# Every write, move and finish reads the run's row first: on SQLite through the driver's
# cursor (``FOR UPDATE`` means nothing there: a write transaction holds the database).
_LOAD_ROW_PREPARED = Prepared(_LOAD_ROW)
_LOAD_ROW_LOCKED = Prepared(_LOAD_ROW.with_for_update())
_TRANSITIONS = (select(transitions).where(transitions.c.run_id == bindparam("b_id"))
                .order_by(transitions.c.id))

#: The run columns read back as floats (a value written as an int comes back a float).
_FLOAT_COLUMNS = tuple(name for name in COLUMN_FIELDS
                       if isinstance(runs.c[name].type, Float))

#: ``Connection.info`` key of the transitions to emit to OpenLineage after the commit.
_LINEAGE = "picidae_openlineage"
_LINEAGE_KINDS = ("run.created", "run.transition")


def _lineage_on() -> bool:
    cfg = settings()
    return bool(cfg.openlineage_url or cfg.openlineage_file)


def safe_text(value: str | None) -> str | None:
    """Text without NUL characters: PostgreSQL's text types cannot hold them (SQLite can), so
    every store writes U+FFFD in their place and gives the same answer back."""
    if value is None or "\x00" not in value:
        return value
    return value.replace("\x00", "\ufffd")


#: The ``run_fields`` columns, in the order ``field_tuples`` gives their values.
FIELD_COLUMNS = ("run_id", "section", "key", "num", "text", "created_at")
#: The types of a value that is no nested mapping (``field_tuples``' one-level shortcut).
_SCALARS = frozenset({float, int, str, bool, type(None)})


def field_rows(run_id: str, section: str, data: dict[str, Any],
               created_at: float | None) -> list[dict[str, Any]]:
    """The ``run_fields`` rows (flattened key, number and text) of a config or summary, which
    the where-language and ``order_by`` query; ``created_at`` is the run's (the sort's
    tie-break, kept in the index: see ``tables.run_fields``)."""
    return [dict(zip(FIELD_COLUMNS, row, strict=True))
            for row in field_tuples(run_id, section, data, created_at)]


def field_tuples(run_id: str, section: str, data: dict[str, Any],
                 created_at: float | None) -> list[tuple[Any, ...]]:
    """``field_rows`` as tuples of ``FIELD_COLUMNS``' values, each as ``Prepared.run_rows``
    takes it (numbers and ``created_at`` as ``float``)."""
    created = None if created_at is None else float(created_at)
    # A config is usually one level of plain values: then it is its own flattening.
    flat = (data if set(map(type, data.values())) <= _SCALARS and set(map(type, data)) <= {str}
            else flatten(data))
    rows: list[tuple[Any, ...]] = []
    append = rows.append
    for key, value in flat.items():
        kind = type(value)
        if kind is float:  # the usual value first; NaN is kept as no number
            append((run_id, section, key[:256], None if value != value else value, None,
                    created))
        elif kind is str:
            append((run_id, section, key[:256], None, safe_text(value), created))
        else:
            num, text = stored_value(value)  # as the where-language reads it
            append((run_id, section, key[:256], num, text, created))
    return rows


def fact_columns(data: dict[str, Any]) -> dict[str, Any]:
    """The ``runs`` columns kept from a run's data document so ``history`` can total them in
    SQL without reading every document: the failure's reason (``None``: no failure or no
    reason) and the cost's amount and currency (``stats.cost_amount``). Written wherever the
    document is (``create_run``, batches, transitions, claims, edits)."""
    failure = data.get("failure")
    reason = failure.get("reason") if isinstance(failure, dict) else None
    paid = stats.cost_amount(data.get("cost"))
    if paid is not None and math.isnan(paid[0]):
        paid = None  # SQLite cannot keep a NaN: no store counts one
    return {"failure_reason": safe_text(str(reason)) if reason else None,
            "cost_amount": paid[0] if paid is not None else None,
            "cost_currency": safe_text(paid[1]) if paid is not None else None}


def facts(row: Any) -> RunFacts:
    """What the lifecycle rules read of a run row."""
    return RunFacts(row.id, State(row.status), row.started_at,
                    State(row.lost_from) if row.lost_from else None, row.lost_at,
                    claimed=row.queue is not None)


class SqlBase:
    """The SQL store's plumbing (see the module docstring)."""

    dialect_name = "sql"
    #: Whether this process may only read the database (an embedded store may be read-only).
    read_only = False

    def __init__(self, engine: Engine, url: str, *, liveness_on_read: bool = True,
                 workspace: str = "default") -> None:
        self.engine = engine
        self.url = url
        self.workspace = workspace
        self.liveness_on_read = liveness_on_read
        self._liveness_lock = threading.Lock()
        #: New runs waiting to be written with their end (``create_run_later``); shared by
        #: ``for_workspace``'s copies, as the database is.
        self._deferred = Deferred(lambda: self._tx(write=True), self._write_waiting)

    @contextmanager
    def _tx(self, write: bool = False, urgent: bool = False) -> Iterator[Connection]:
        """A transaction (``write``: one that writes). ``urgent`` asks for the next turn at
        the write lock where this store queues writers itself (SQLite: ``WriteTurns``).
        Runs this process created and has not written yet are written first
        (``deferred.py``), so every read and write sees them."""
        if self._deferred and not in_transaction():
            self._deferred.settle()  # before the turn: writing them takes it
        with self._turn(write, urgent), self._open_tx(write) as conn:
            yield conn

    def _turn(self, write: bool, urgent: bool) -> AbstractContextManager[Any]:
        """This process's turn at the write lock, where a dialect queues writers itself
        (SQLite: ``WriteTurns``); none by default."""
        return nullcontext()

    @contextmanager
    def _open_tx(self, write: bool = False) -> Iterator[Connection]:
        """The transaction itself (``_tx``, once the turn is taken)."""
        _open.depth = getattr(_open, "depth", 0) + 1
        try:
            with self.engine.connect() as conn:
                if write:
                    conn.execution_options(picidae_write=True)
                try:
                    with conn.begin():
                        yield conn
                    lineage_events = conn.info.pop(_LINEAGE, None)
                finally:
                    conn.info.pop(_LINEAGE, None)  # a rolled-back write emits nothing
                if lineage_events:
                    from picidae.store import openlineage

                    openlineage.hand_off(cast("Store", self), lineage_events)
        except OperationalError as exc:
            raise StoreUnavailable(f"store {self.url} is unavailable: {exc.orig}") from exc
        except DBAPIError as exc:
            if exc.connection_invalidated:
                raise StoreUnavailable(f"store {self.url} dropped the connection") from exc
            raise
        finally:
            _open.depth -= 1

    def _write_waiting(self, conn: Connection, waiting: list[Waiting]) -> None:
        raise NotImplementedError  # the store writes them (store.py)

    def _upsert_latest(self, conn: Connection, rows: list[tuple[Any, ...]]) -> None:
        """Upsert ``metric_latest`` rows (tuples of ``writes.LATEST_COLUMNS``' values, from
        ``writes.point_tuples``); each dialect's module provides it."""
        raise NotImplementedError

    def _event(self, conn: Connection, kind: str, run_id: str | None, at: float,
               payload: dict[str, Any]) -> None:
        self._events(conn, [(kind, run_id, at, payload)])

    def _events(self, conn: Connection,
                items: list[tuple[str, str | None, float, dict[str, Any]]]) -> None:
        """Append events, in order, with one statement."""
        ws = self.workspace
        _INSERT_EVENT.run(conn, [{"workspace": ws, "run_id": run_id, "type": kind,
                                  "at": at, "payload": dumps(payload)}
                                 for kind, run_id, at, payload in items])
        if _lineage_on():
            for kind, run_id, at, payload in items:
                if kind in _LINEAGE_KINDS and run_id:
                    # Emitted by ``_tx`` once the transaction commits (store/openlineage.py).
                    conn.info.setdefault(_LINEAGE, []).append((kind, run_id, at, payload))

    @staticmethod
    def _record(row: Any, now: float | None = None) -> dict[str, Any]:
        mapping = row._mapping
        rec = {name: mapping[name] for name in COLUMN_FIELDS}
        data = json.loads(row.data)
        if row.packages_digest is not None:  # selected with ``package_sets.PACKAGES``
            package_sets.restore(data, row.packages_digest, mapping["packages_json"])
        for name in DATA_FIELDS:
            rec[name] = data[name] if name in data else data_default(name)
        rec["duration_s"] = duration_s(rec, time.time() if now is None else now)
        return rec

    @staticmethod
    def _record_of(values: dict[str, Any], now: float | None = None, *,
                   doc: dict[str, Any] | None = None) -> dict[str, Any]:
        """The record of a row this transaction wrote, from the values written (``values``:
        every column, and ``packages_json`` when ``packages_digest`` is set), as ``_record``
        would read it back: float columns as floats, the data document through JSON.
        ``doc``: the document as its text parses (``documents.reparsed``), when the caller
        has it without parsing; it becomes the record's (the caller keeps no reference)."""
        rec = {name: values[name] for name in COLUMN_FIELDS}
        for name in _FLOAT_COLUMNS:
            if rec[name] is not None:
                rec[name] = float(rec[name])
        data = json.loads(values["data"]) if doc is None else doc
        digest = values.get("packages_digest")
        if digest is not None:
            package_sets.restore(data, digest, values["packages_json"])
        for name in DATA_FIELDS:
            rec[name] = data[name] if name in data else data_default(name)
        rec["duration_s"] = duration_s(rec, time.time() if now is None else now)
        return rec

    def _load_row(self, conn: Connection, run_id: str, *, lock: bool = False) -> Any:
        """The run's ``runs`` row (columns as attributes and ``_mapping``); ``RunNotFound``
        when this workspace has none."""
        stmt = _LOAD_ROW_LOCKED if lock else _LOAD_ROW_PREPARED
        row = stmt.row(conn, {"b_id": run_id, "b_ws": self.workspace})
        if row is None:
            raise RunNotFound(run_id)
        return row

    def _transitions(self, conn: Connection, run_id: str) -> list[dict[str, Any]]:
        rows = conn.execute(_TRANSITIONS, {"b_id": run_id})
        return [{"from": r.from_state, "to": r.to_state, "at": r.at, "reason": r.reason,
                 "actor": r.actor} for r in rows]

    def _rewrite_fields(self, conn: Connection, row: Any, section: str,
                        data: dict[str, Any]) -> None:
        """Replace the ``run_fields`` rows of one section of the run whose ``runs`` row is
        ``row``."""
        conn.execute(delete(run_fields).where(run_fields.c.run_id == row.id,
                                              run_fields.c.section == section))
        rows = field_rows(row.id, section, data, row.created_at)
        if rows:
            conn.execute(insert(run_fields), rows)

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
