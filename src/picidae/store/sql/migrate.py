"""Schema migrations with Alembic, checked cheaply before Alembic itself is imported.

``HEAD`` names the newest revision in ``migrations/versions`` (a test keeps them equal), so
opening an up-to-date store costs one query, not an Alembic start-up.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Connection, inspect, text

from picidae.errors import StoreUnavailable

HEAD = "0001"
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
    if not allow:
        raise StoreUnavailable(
            f"the database schema is at {rev or 'nothing'}, this Picidae needs {HEAD}: "
            "run 'picidae db upgrade' (or start 'picidae server', which upgrades it)")
    upgrade(conn)
