"""PostgreSQL specifics: psycopg 3, row locks, upserts, batch inserts, migrations.

A shared database has many writers (training jobs, agents, server replicas), so:

- state changes and batch writes lock the run's row (``SELECT ... FOR UPDATE``, issued by
  ``SqlStore``) and the watchdog skips rows another process holds (``SKIP LOCKED``);
- metric chunks, log lines and field rows go in with one ``executemany`` per table, which
  psycopg 3 sends as a pipeline (one round trip, not one per row);
- the latest point per metric is an ``INSERT ... ON CONFLICT DO UPDATE``;
- every event is announced with ``NOTIFY picidae_events`` in the transaction that writes it,
  and ``event_listener()`` waits for such announcements (``LISTEN``), so live event streams
  on every replica wake as soon as an event commits, wherever it was written.

Migrations policy. A client never changes an existing schema behind the operator's back:

- a database already at ``migrate.HEAD`` opens with one cheap query;
- a database whose schema is older (or newer) than this Picidae is refused with
  ``StoreUnavailable`` naming ``picidae db upgrade`` (``picidae server`` upgrades on start);
- an empty database (no tables at all in the connection's schema) is initialised on first
  use, so ``store="postgresql://..."`` works out of the box: there is nothing to break;
- a database that holds other tables but no Picidae schema is refused too: adding tables to
  someone else's database should be asked for, with ``picidae db upgrade``.

Initialising and upgrading hold a transaction-scoped advisory lock (``pg_advisory_xact_lock``),
so many processes opening a new database at once run the migration exactly once.
"""

from __future__ import annotations

import importlib.util
import time
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, func, inspect, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from picidae.errors import InvalidInput, MissingDependency, StoreUnavailable
from picidae.store.sql.migrate import HEAD, current_revision, upgrade, upgrade_if_needed
from picidae.store.sql.store import SqlStore
from picidae.store.sql.tables import metric_latest
from picidae.store.sql.writes import LATEST_COLUMNS, latest_set

#: User-facing schemes this store accepts; all are opened with psycopg 3.
SCHEMES = ("postgresql", "postgres", "postgresql+psycopg")

#: The channel every committed event is announced on (``NOTIFY``), so each server replica
#: pushes events written through any other at once.
EVENTS_CHANNEL = "picidae_events"

#: The advisory lock key that serialises migrations ("picidae!" as a big-endian int64).
MIGRATION_LOCK = int.from_bytes(b"picidae!", "big")
#: The advisory lock key that serialises staleness recomputes (store/sql/lineage.py).
LINEAGE_LOCK = int.from_bytes(b"picidae~", "big")

CONNECT_TIMEOUT_S = 10


def is_postgres_url(url: str) -> bool:
    """Whether ``url`` names a PostgreSQL database (any scheme this store accepts)."""
    return url.split("://", 1)[0].lower() in SCHEMES if "://" in url else False


def parse_url(url: str) -> URL:
    """The SQLAlchemy URL (``postgresql+psycopg``) for a user's ``postgresql://`` or
    ``postgres://`` URL; ``InvalidInput`` for anything else."""
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme not in SCHEMES:
        raise InvalidInput(f"not a PostgreSQL URL: {mask_url(url)!r} (use postgresql://...)",
                           field="store")
    try:
        return make_url("postgresql+psycopg://" + url.split("://", 1)[1])
    except (ArgumentError, ValueError):
        raise InvalidInput(f"cannot parse the PostgreSQL URL {mask_url(url)!r}",
                           field="store") from None


def mask_url(url: str) -> str:
    """``url`` as the user wrote it, with any password (in the authority or a ``password=``
    query parameter) replaced by ``***``: safe for messages and logs."""
    if "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    authority, sep, tail = rest.partition("/")
    if "@" in authority:
        userinfo, host = authority.rsplit("@", 1)
        if ":" in userinfo:
            userinfo = userinfo.split(":", 1)[0] + ":***"
        authority = f"{userinfo}@{host}"
    if "?" in tail:
        path, query = tail.split("?", 1)
        params = [("password=***" if p.lower().startswith("password=") else p)
                  for p in query.split("&")]
        tail = path + "?" + "&".join(params)
    return f"{scheme}://{authority}{sep}{tail}"


def _require_psycopg() -> None:
    # find_spec, not import: opening the engine imports it anyway, and a missing driver
    # should name the extra rather than surface as SQLAlchemy's NoSuchModuleError.
    if importlib.util.find_spec("psycopg") is None:
        raise MissingDependency("psycopg", "postgres")


def create_pg_engine(url: str) -> Engine:
    """An engine for a user's PostgreSQL URL, with psycopg 3 and Picidae's pool settings."""
    _require_psycopg()
    parsed = parse_url(url)
    connect_args: dict[str, Any] = {}
    if "connect_timeout" not in parsed.query:
        connect_args["connect_timeout"] = CONNECT_TIMEOUT_S
    if "application_name" not in parsed.query:
        connect_args["application_name"] = "picidae"
    return create_engine(parsed, pool_size=5, max_overflow=10, pool_pre_ping=True,
                         connect_args=connect_args)


def _schema_is_empty(conn: Connection) -> bool:
    """No tables (nor views) at all in the connection's current schema."""
    insp = inspect(conn)
    return not insp.get_table_names() and not insp.get_view_names()


def migrate(conn: Connection, *, allow: bool) -> tuple[str | None, str]:
    """Bring the schema to ``HEAD`` under the migration lock (see the module docstring):
    an empty schema is always initialised; an outdated one only with ``allow``. Returns the
    revision before and after."""
    conn.execute(select(func.pg_advisory_xact_lock(MIGRATION_LOCK)))
    before = current_revision(conn)
    if before is None and _schema_is_empty(conn):
        upgrade(conn)
        return None, HEAD
    if before is None and not allow:
        raise StoreUnavailable(
            "the database has tables but no Picidae schema; to add Picidae's tables to it, "
            "run 'picidae db upgrade' (or point PICIDAE_STORE at an empty database)")
    upgrade_if_needed(conn, allow=allow)
    return before, HEAD


class PostgresStore(SqlStore):
    """A store on a shared PostgreSQL database (see the module docstring).

    ``upgrade=True`` migrates an outdated schema (what ``picidae server`` and
    ``picidae db upgrade`` do); a plain client refuses it. ``url`` is the user's URL with
    the password masked.
    """

    dialect_name = "postgresql"

    def __init__(self, url: str, *, upgrade: bool = False, workspace: str = "default") -> None:
        engine = create_pg_engine(url)
        super().__init__(engine, mask_url(url), workspace=workspace)
        self.revision_before: str | None = HEAD
        try:
            with self._tx() as conn:
                current = current_revision(conn)
            if current != HEAD:
                with self._tx(write=True) as conn:
                    self.revision_before, _ = migrate(conn, allow=upgrade)
        except BaseException:
            engine.dispose()
            raise

    def _event(self, conn: Connection, kind: str, run_id: str | None, at: float,
               payload: dict[str, Any]) -> None:
        super()._event(conn, kind, run_id, at, payload)
        # Delivered when (and only if) the transaction commits; repeats within one
        # transaction fold into one notification.
        conn.exec_driver_sql(f"NOTIFY {EVENTS_CHANNEL}")

    def event_listener(self) -> PgListener:
        """A listener that wakes when any process commits an event to this database."""
        url = self.engine.url.set(drivername="postgresql")
        return PgListener(url.render_as_string(hide_password=False))

    def _lock_lineage(self, conn: Connection) -> None:
        conn.execute(select(func.pg_advisory_xact_lock(LINEAGE_LOCK)))

    def _upsert_latest(self, conn: Connection, rows: list[tuple[Any, ...]]) -> None:
        """See ``SqlBase._upsert_latest``."""
        stmt = pg_insert(metric_latest)
        conn.execute(stmt.on_conflict_do_update(
            index_elements=["run_id", "key"], set_=latest_set(stmt, metric_latest)),
            [dict(zip(LATEST_COLUMNS, row, strict=True)) for row in rows])


class PgListener:
    """``LISTEN`` on the events channel over a connection of its own (opened on first use,
    reopened after a failure). Not thread-safe: one per waiting thread."""

    def __init__(self, conninfo: str) -> None:
        self.conninfo = conninfo
        self._conn: Any = None

    def wait(self, timeout: float) -> bool:
        """Block until an event is committed (True) or ``timeout`` seconds pass (False).
        While the database is unreachable it just sleeps, so callers fall back to polling."""
        import psycopg

        try:
            if self._conn is None:
                self._conn = psycopg.connect(self.conninfo, autocommit=True,
                                             connect_timeout=CONNECT_TIMEOUT_S,
                                             application_name="picidae-listen")
                self._conn.execute(f"LISTEN {EVENTS_CHANNEL}")
            woke = False
            for _ in self._conn.notifies(timeout=timeout, stop_after=1):
                woke = True
            return woke
        except psycopg.Error:
            self.close()
            time.sleep(timeout)
            return False

    def close(self) -> None:
        """Close the connection (a later ``wait`` opens another)."""
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # closing a broken connection may fail too; it is gone anyway
                pass
