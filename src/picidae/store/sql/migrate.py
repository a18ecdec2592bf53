"""Schema migrations with Alembic, checked cheaply before Alembic itself is imported.

``HEAD`` names the newest revision in ``migrations/versions`` (a test keeps them equal), so
opening an up-to-date store costs one query, not an Alembic start-up.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Connection, inspect, text

from picidae.errors import StoreUnavailable

HEAD = "0014"
MIGRATIONS = Path(__file__).parent / "migrations"


def current_revision(conn: Connection) -> str | None:
    """The revision the database is at, or ``None`` for an empty database."""
    if not inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def upgrade(conn: Connection) -> None:
    """Run every pending migration on ``conn`` (inside the caller's transaction)."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = conn
    command.upgrade(cfg, "head")


def upgrade_if_needed(conn: Connection, *, allow: bool) -> None:
    """Bring the schema to ``HEAD``. With ``allow=False`` (a shared database opened by a
    client) an outdated schema is an error naming ``picidae db upgrade`` instead."""
    rev = current_revision(conn)
    if rev == HEAD:
        return
    if rev is not None and rev.isdigit() and HEAD.isdigit() and int(rev) > int(HEAD):
        raise StoreUnavailable(
            f"the database schema is at {rev}, newer than this Picidae understands ({HEAD}): "
            "upgrade Picidae (pip install -U picidae)")
    if not allow:
        raise StoreUnavailable(
            f"the database schema is at {rev or 'nothing'}, this Picidae needs {HEAD}: "
            "run 'picidae db upgrade' (or start 'picidae server', which upgrades it)")
    upgrade(conn)


def upgrade_url(url: str | None = None) -> tuple[str | None, str]:
    """Bring the store at ``url`` (a PostgreSQL URL, a folder or a ``.db`` file; ``None``:
    ``PICIDAE_STORE``, else the embedded store) to ``HEAD``. What ``picidae db upgrade`` runs.
    Returns the revision before (``None``: the database was empty) and after."""
    from picidae.store import registry

    key = registry.resolve(url)
    scheme = key.split("://", 1)[0].lower() if "://" in key else ""
    if scheme in ("http", "https"):
        from picidae.errors import InvalidInput

        raise InvalidInput("a Picidae server upgrades its own database when it starts; run "
                           "'picidae db upgrade' with the server's PostgreSQL URL instead",
                           field="store")
    if scheme and scheme != "sqlite":
        from picidae.store.sql.postgres import PostgresStore

        pg = PostgresStore(key, upgrade=True)
        pg.close()
        return pg.revision_before, HEAD
    from sqlalchemy import create_engine

    from picidae.store.sql.sqlite import SqliteStore

    folder, db_file = registry.embedded_location(key)
    before: str | None = None
    if db_file.exists():
        probe = create_engine(f"sqlite:///{db_file}")
        try:
            with probe.connect() as conn:
                before = current_revision(conn)
        finally:
            probe.dispose()
    SqliteStore(folder, db_file=db_file).close()
    return before, HEAD
