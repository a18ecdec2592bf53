"""The schema, defined once for SQLite and PostgreSQL (Alembic migrations follow it)."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)

# A naming convention keeps constraint names deterministic, so Alembic migrations are too.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT identity.
AutoId = BigInteger().with_variant(Integer(), "sqlite")

runs = Table(
    "runs",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("workspace", String(64), nullable=False, server_default="default"),
    Column("name", String(512), nullable=False),
    Column("alias", String(128)),
    Column("parent_id", String(36)),
    Column("root_id", String(36)),
    Column("kind", String(128)),
    Column("status", String(16), nullable=False),
    Column("trigger", String(32)),
    Column("agent", String(128)),
    Column("benchmark", String(128)),
    Column("seed", BigInteger),
    Column("attempt", Integer, nullable=False, server_default="1"),
    Column("retry_of", String(36)),
    Column("replay_of", String(36)),
    Column("created_at", Float, nullable=False),
    Column("started_at", Float),
    Column("ended_at", Float),
    Column("last_heartbeat_at", Float),
    Column("lost_at", Float),
    Column("lost_from", String(16)),
    Column("data", Text, nullable=False),
    Index(None, "workspace", "created_at"),
    Index(None, "status", "last_heartbeat_at"),
    Index(None, "parent_id"),
    Index(None, "root_id"),
    Index(None, "name"),
)

# Config and summary flattened with dots, one row per key, for filtering and sorting.
run_fields = Table(
    "run_fields",
    metadata,
    Column("run_id", String(36), nullable=False),
    Column("section", String(16), nullable=False),
    Column("key", String(256), nullable=False),
    Column("num", Float),
    Column("text", Text),
    PrimaryKeyConstraint("run_id", "section", "key"),
    Index(None, "section", "key", "num"),
)

run_tags = Table(
    "run_tags",
    metadata,
    Column("run_id", String(36), nullable=False),
    Column("tag", String(128), nullable=False),
    PrimaryKeyConstraint("run_id", "tag"),
    Index(None, "tag"),
)

transitions = Table(
    "transitions",
    metadata,
    Column("id", AutoId, primary_key=True, autoincrement=True),
    Column("run_id", String(36), nullable=False),
    Column("from_state", String(16)),
    Column("to_state", String(16), nullable=False),
    Column("at", Float, nullable=False),
    Column("reason", Text),
    Column("actor", String(128)),
    Index(None, "run_id", "id"),
)

# Metric points are stored in chunks: packed little-endian arrays of steps (int64), values
# and times (float64) for one run, key and stage. One row per point tops out far below the
# SDK's logging rate; a chunk per key per flush does not.
metric_chunks = Table(
    "metric_chunks",
    metadata,
    Column("id", AutoId, primary_key=True, autoincrement=True),
    Column("run_id", String(36), nullable=False),
    Column("key", String(256), nullable=False),
    Column("stage", String(128)),
    Column("n", Integer, nullable=False),
    Column("step_min", BigInteger, nullable=False),
    Column("step_max", BigInteger, nullable=False),
    Column("ordered", Integer, nullable=False),
    Column("steps", LargeBinary, nullable=False),
    Column("vals", LargeBinary, nullable=False),
    Column("times", LargeBinary, nullable=False),
    Index(None, "run_id", "key", "id"),
)

# The latest point of each metric (highest step, then latest write), for fast listing.
metric_latest = Table(
    "metric_latest",
    metadata,
    Column("run_id", String(36), nullable=False),
    Column("key", String(256), nullable=False),
    Column("step", BigInteger, nullable=False),
    Column("value", Float),
    Column("time", Float, nullable=False),
    Column("stage", String(128)),
    Column("count", BigInteger, nullable=False, server_default="0"),
    PrimaryKeyConstraint("run_id", "key"),
    Index(None, "key", "value"),
)

logs = Table(
    "logs",
    metadata,
    Column("id", AutoId, primary_key=True, autoincrement=True),
    Column("run_id", String(36), nullable=False),
    Column("time", Float, nullable=False),
    Column("stream", String(16), nullable=False),
    Column("line", Text, nullable=False),
    Index(None, "run_id", "id"),
)

# Everything that happened, in order: new runs, transitions, summary updates, artifacts.
events = Table(
    "events",
    metadata,
    Column("id", AutoId, primary_key=True, autoincrement=True),
    Column("workspace", String(64), nullable=False, server_default="default"),
    Column("run_id", String(36)),
    Column("type", String(32), nullable=False),
    Column("at", Float, nullable=False),
    Column("payload", Text, nullable=False),
)
