"""SQLite specifics: WAL, busy timeout, ``BEGIN IMMEDIATE`` for writes, upserts, migrations.

Many processes may write one embedded store at once: WAL lets readers proceed during a write,
``BEGIN IMMEDIATE`` takes the write lock up front (so the busy timeout applies instead of a
deadlock on lock upgrade), and a file lock serialises the first-time migration.
"""

from __future__ import annotations

import fcntl
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, create_engine, event
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from picidae.errors import StoreUnavailable
from picidae.store.sql.migrate import upgrade_if_needed
from picidae.store.sql.store import SqlStore, latest_set
from picidae.store.sql.tables import metric_latest

BUSY_TIMEOUT_MS = 60_000


class SqliteStore(SqlStore):
    """The embedded store: a SQLite file (``picidae.db``) in a folder."""

    dialect_name = "sqlite"

    def __init__(self, folder: Path, *, db_file: Path | None = None) -> None:
        self.folder = folder
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreUnavailable(f"cannot create the store folder {folder}: {exc}") from exc
        self.db_path = db_file or folder / "picidae.db"
        engine = create_engine(f"sqlite:///{self.db_path}", pool_size=8, max_overflow=8)

        @event.listens_for(engine, "connect")
        def _connect(dbapi_conn: Any, _record: Any) -> None:
            # Autocommit at the driver level; transactions are begun below, explicitly.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            cur.execute("PRAGMA journal_mode = WAL")
            cur.execute("PRAGMA synchronous = NORMAL")
            cur.execute("PRAGMA foreign_keys = ON")
            # LIKE is case-sensitive on PostgreSQL; make it so here too.
            cur.execute("PRAGMA case_sensitive_like = ON")
            cur.close()

        @event.listens_for(engine, "begin")
        def _begin(conn: Connection) -> None:
            if conn.get_execution_options().get("picidae_write"):
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            else:
                conn.exec_driver_sql("BEGIN")

        super().__init__(engine, str(folder))
        lock_path = folder / ".migrate.lock"
        try:
            with open(lock_path, "a") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                try:
                    with self._tx(write=True) as conn:
                        upgrade_if_needed(conn, allow=True)
                finally:
                    fcntl.flock(lock, fcntl.LOCK_UN)
        except OSError as exc:
            raise StoreUnavailable(f"cannot open the store at {folder}: {exc}") from exc

    def _upsert_latest(self, conn: Connection, rows: list[dict[str, Any]]) -> None:
        conn.execute(_UPSERT_LATEST, rows)


# Built once: constructing this upsert costs far more than running it (every flush runs it).
_LATEST_INSERT = sqlite_insert(metric_latest)
_UPSERT_LATEST = _LATEST_INSERT.on_conflict_do_update(
    index_elements=["run_id", "key"], set_=latest_set(_LATEST_INSERT, metric_latest))
