"""SQLite specifics: WAL, busy timeout, ``BEGIN IMMEDIATE`` for writes, upserts, migrations.

Many processes may write one embedded store at once: WAL lets readers proceed during a write,
``BEGIN IMMEDIATE`` takes the write lock up front (so the busy timeout applies instead of a
deadlock on lock upgrade), and a file lock serialises a migration (taken only when the schema
is behind, so opening a current store writes nothing).

A store whose folder or database file this process cannot write (a read-only mount, an
archive, another user's runs) opens **read-only**: listing and showing work, liveness is not
applied on read, and every write fails with ``StoreUnavailable`` saying the store is read-only.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import weakref
from collections import deque
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import Connection, create_engine, event
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError

from picidae.errors import StoreUnavailable
from picidae.store.sql.migrate import HEAD, current_revision, upgrade_if_needed
from picidae.store.sql.prepared import Prepared
from picidae.store.sql.store import SqlStore
from picidae.store.sql.tables import metric_latest
from picidae.store.sql.writes import LATEST_COLUMNS, latest_set

BUSY_TIMEOUT_MS = 60_000


class SqliteStore(SqlStore):
    """The embedded store: a SQLite file (``picidae.db``) in a folder."""

    dialect_name = "sqlite"

    def __init__(self, folder: Path, *, db_file: Path | None = None) -> None:
        self.folder = folder
        self.db_path = db_file or folder / "picidae.db"
        if not folder.is_dir():
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreUnavailable(f"cannot create the store folder {folder}: {exc}"
                                       ) from exc
        self.read_only = not _writable(folder, self.db_path)
        if self.read_only and not self.db_path.is_file():
            raise StoreUnavailable(f"the store folder {folder} is read-only and holds no store "
                                   f"yet ({self.db_path.name} is missing)")
        engine = create_engine(_engine_url(self.db_path, self.read_only), pool_size=8,
                               max_overflow=8)
        read_only = self.read_only

        @event.listens_for(engine, "connect")
        def _connect(dbapi_conn: Any, _record: Any) -> None:
            # Autocommit at the driver level; transactions are begun below, explicitly.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            if not read_only:
                cur.execute("PRAGMA journal_mode = WAL")
            cur.execute("PRAGMA synchronous = NORMAL")
            cur.execute("PRAGMA foreign_keys = ON")
            # LIKE is case-sensitive on PostgreSQL; make it so here too.
            cur.execute("PRAGMA case_sensitive_like = ON")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin(conn: Connection) -> None:
            if conn.get_execution_options().get("picidae_write"):
                if read_only:
                    raise StoreUnavailable(
                        f"the store at {folder} is read-only (this process cannot write "
                        f"{self.db_path}): it can be listed and shown, not written",
                        field="store")
                _driver_begin(conn, "BEGIN IMMEDIATE")
            else:
                _driver_begin(conn, "BEGIN")

        self._writer = WriteTurns()  # shared with for_workspace's copies
        # Liveness on read writes (running → lost); a read-only store is shown as it is.
        super().__init__(engine, str(folder), liveness_on_read=not read_only)
        try:
            self._migrate()
        except BaseException:
            engine.dispose()
            raise

    def _migrate(self) -> None:
        """Bring the schema to ``HEAD``: one read when it is current (no lock, no write);
        otherwise under the folder's file lock, in a write transaction."""
        with self._tx() as conn:
            rev = current_revision(conn)
        if rev == HEAD:
            return
        if self.read_only:
            raise StoreUnavailable(
                f"the store at {self.folder} is read-only and its schema is at "
                f"{rev or 'nothing'}, but this Picidae needs {HEAD}: open it once where it "
                "is writable (or run 'picidae db upgrade' there)", field="store")
        try:
            with open(self.folder / ".migrate.lock", "a") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                try:
                    with self._tx(write=True) as conn:
                        upgrade_if_needed(conn, allow=True)
                finally:
                    fcntl.flock(lock, fcntl.LOCK_UN)
        except OSError as exc:
            raise StoreUnavailable(f"cannot open the store at {self.folder}: {exc}") from exc

    def _turn(self, write: bool, urgent: bool) -> AbstractContextManager[Any]:
        """A write waits for this process's other writers in ``WriteTurns``, which hands
        over the moment the lock is free (``urgent`` first), rather than in SQLite's busy
        handler, which sleeps 1, 2, 5…100 ms between tries: a server's threads queued for
        tens of ms behind writes of a few. Other processes still meet the busy handler."""
        return self._writer.turn(urgent) if write else nullcontext()

    def _upsert_latest(self, conn: Connection, rows: list[tuple[Any, ...]]) -> None:
        """See ``SqlBase._upsert_latest``."""
        _UPSERT_LATEST.run_rows(conn, LATEST_COLUMNS, rows)

    def _lock_runs(self, conn: Connection, run_ids: list[str]) -> None:
        """Nothing to lock: a write transaction holds the whole database."""


def _driver_begin(conn: Connection, sql: str) -> None:
    """Begin a transaction on the driver's connection itself (every transaction of the
    store begins here: SQLAlchemy's statement machinery would cost more than the ``BEGIN``),
    a driver error wrapped as SQLAlchemy wraps it (``_tx`` makes ``OperationalError`` — a
    lock held past the busy timeout — ``StoreUnavailable``)."""
    raw = conn.connection.driver_connection
    assert raw is not None
    try:
        raw.execute(sql)
    except sqlite3.Error as exc:
        raise DBAPIError.instance(sql, None, exc, sqlite3.Error, dialect=conn.dialect) from exc


class WriteTurns:
    """This process's turns at the database's write lock: first come, first served, except
    that an urgent writer (the server's heartbeat writer: one short transaction for many
    requests) goes before those waiting. Reentrant, as a thread may nest a write in a write.
    A plain ``threading.Lock`` is no queue: the thread that releases it usually takes it
    again, and one writer waits behind many."""

    def __init__(self) -> None:
        self._reset()
        _ALL_TURNS.add(self)

    def _reset(self) -> None:
        """No owner, nobody waiting: a new object's state, and a forked child's (the threads
        that held or awaited the turn in the parent do not exist in the child)."""
        self._mutex = threading.Lock()
        self._owner: int | None = None
        self._depth = 0
        self._waiting: deque[tuple[int, threading.Lock]] = deque()
        self._urgent: deque[tuple[int, threading.Lock]] = deque()

    @contextmanager
    def turn(self, urgent: bool = False) -> Iterator[None]:
        """Hold the write turn for the block."""
        me = threading.get_ident()
        with self._mutex:
            if self._owner == me or (self._owner is None and not self._waiting
                                     and not self._urgent):
                self._owner = me
                self._depth += 1
                wake = None
            else:
                wake = threading.Lock()
                wake.acquire()
                (self._urgent if urgent else self._waiting).append((me, wake))
        if wake is not None:
            wake.acquire()  # released by the writer before us, which made us the owner
        try:
            yield
        finally:
            with self._mutex:
                self._depth -= 1
                if self._depth == 0:
                    queue = self._urgent or self._waiting
                    if queue:
                        self._owner, nxt = queue.popleft()
                        self._depth = 1
                        nxt.release()
                    else:
                        self._owner = None


#: Every ``WriteTurns`` of this process, reset in a forked child (``_after_fork``).
_ALL_TURNS: weakref.WeakSet[WriteTurns] = weakref.WeakSet()


def _after_fork() -> None:
    for turns in list(_ALL_TURNS):
        turns._reset()


os.register_at_fork(after_in_child=_after_fork)


def _writable(folder: Path, db_path: Path) -> bool:
    """Whether this process may write the store: SQLite needs the folder (for its WAL and
    shared-memory files) and the database file."""
    if not os.access(folder, os.W_OK | os.X_OK):
        return False
    return not db_path.exists() or os.access(db_path, os.R_OK | os.W_OK)


def _engine_url(db_path: Path, read_only: bool) -> str:
    """The SQLAlchemy URL of the database; read-only stores open with SQLite's ``mode=ro``,
    and ``immutable=1`` when no write-ahead log is beside the file (a WAL database cannot
    otherwise be opened where its ``-shm`` file cannot be created)."""
    if not read_only:
        return f"sqlite:///{db_path}"
    wal = db_path.with_name(db_path.name + "-wal")
    flags = "mode=ro" if wal.exists() and wal.stat().st_size else "mode=ro&immutable=1"
    return f"sqlite:///file:{quote(str(db_path.absolute()))}?{flags}&uri=true"


# Built once: constructing this upsert costs far more than running it (every flush runs it).
_LATEST_INSERT = sqlite_insert(metric_latest)
_UPSERT_LATEST = Prepared(_LATEST_INSERT.on_conflict_do_update(
    index_elements=["run_id", "key"], set_=latest_set(_LATEST_INSERT, metric_latest)))
