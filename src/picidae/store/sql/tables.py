"""The schema, defined once for SQLite and PostgreSQL (Alembic migrations follow it)."""

from __future__ import annotations

from typing import Any

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
    UniqueConstraint,
    text,
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



def _having(column: str) -> dict[str, Any]:
    """A partial index's condition, for both dialects: rows where ``column`` has a value."""
    where = text(f"{column} IS NOT NULL")
    return {"sqlite_where": where, "postgresql_where": where}


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
    # Work for workers: the queue a submitted run waits in (NULL: not for a worker), and the
    # flow (name, version) it was submitted from. Claims scan (status, queue, created_at).
    Column("queue", String(64)),
    Column("flow", String(256)),
    Column("flow_version", Integer),
    # A person's or agent's notes on the run (free text, edited after the fact): a column so
    # the where-language can filter on it (``notes contains "bug"``).
    Column("notes", Text),
    # Kept from the data document (``base.fact_columns``) so ``history`` totals failures by
    # reason and costs in SQL, without reading a million documents.
    Column("failure_reason", Text),
    Column("cost_amount", Float),
    Column("cost_currency", Text),
    # The run's installed packages, stored once per distinct set in ``package_sets``
    # (``env.packages`` in ``data`` then holds this digest; store/sql/package_sets.py).
    Column("packages_digest", String(64)),
    Index(None, "workspace", "created_at"),
    # Partial (0014): only runs given to workers have a queue; claims ask ``queue = …``.
    Index(None, "status", "queue", "created_at", **_having("queue")),
    # Partial (0013): most runs have no flow, parent or cost, and write no entry there; the
    # queries these serve all ask for a value (``flow = …``, ``parent_id IN …``).
    Index(None, "flow", "created_at", **_having("flow")),
    Index(None, "status", "last_heartbeat_at"),
    Index(None, "parent_id", **_having("parent_id")),
    Index(None, "root_id"),
    Index(None, "name"),
    # Aggregates over a million runs read these alone (covering, store/sql/aggregates.py):
    # runs per status (and per status and time bucket; failures by reason), durations in
    # order (percentiles by position; the columns after the expression make it covering on
    # SQLite) and costs.
    Index(None, "workspace", "status", "created_at", "failure_reason"),
    Index(None, "workspace", "parent_id", "status"),  # the same for top-level runs
    Index("ix_runs_workspace_duration", "workspace", text("(ended_at - started_at)"),
          "status", "ended_at", "started_at"),
    Index(None, "workspace", "cost_amount", "cost_currency", **_having("cost_amount")),
)

# Each distinct set of installed packages (a run's ``env.packages``, ~200 entries, ~6 KB of
# JSON), once: runs name theirs by ``runs.packages_digest``, the SHA-256 of ``packages``.
package_sets = Table(
    "package_sets",
    metadata,
    Column("digest", String(64), primary_key=True),
    Column("packages", Text, nullable=False),
)

# Config and summary flattened with dots, one row per key, for filtering and sorting.
# ``created_at`` is the run's (copied: it never changes), so the index below holds a page
# sorted by a numeric key in its full order — the value, then newest first — and the page
# is read by walking it (store/sql/query.py, ``_FieldWalk``).
run_fields = Table(
    "run_fields",
    metadata,
    Column("run_id", String(36), nullable=False),
    Column("section", String(16), nullable=False),
    Column("key", String(256), nullable=False),
    Column("num", Float),
    Column("text", Text),
    Column("created_at", Float),
    PrimaryKeyConstraint("run_id", "section", "key"),
    Index(None, "section", "key", "num", "created_at", "run_id"),
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
    # How steps/vals/times are stored (store/sql/codec.py): 0 raw arrays (every chunk written
    # before migration 0010), 1 each blob led by its format byte.
    Column("codec", Integer, nullable=False, server_default="0"),
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

# Artifact metadata; the content lives in an artifact store (picidae.artifacts), keyed by
# digest. A folder artifact is a head row (kind "folder", path NULL, the folder's manifest
# digest and total size) and one row per file with ``path`` set and ``parent_id`` naming the
# head row. ``location`` is the artifact store the blob was written to.
artifacts = Table(
    "artifacts",
    metadata,
    Column("id", AutoId, primary_key=True, autoincrement=True),
    Column("run_id", String(36), nullable=False),
    Column("name", String(512), nullable=False),
    Column("type", String(64)),
    Column("kind", String(16), nullable=False),
    Column("path", String(1024)),
    Column("parent_id", BigInteger),
    Column("digest", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("step", BigInteger),
    Column("created_at", Float, nullable=False),
    Column("caption", Text),
    Column("metadata", Text),
    Column("location", String(1024)),
    Index(None, "run_id", "id"),
    Index(None, "digest"),
)

# Batch ids already applied, so a client retrying a batch whose answer it lost (a server
# killed after the commit) never applies it twice.
applied_batches = Table(
    "applied_batches",
    metadata,
    Column("batch_id", String(64), primary_key=True),
    Column("run_id", String(36), nullable=False),
    Column("at", Float, nullable=False),
    Index(None, "at"),
)

# API tokens managed with ``picidae token``: only the SHA-256 of a token is stored; ``id`` is
# the public handle that ``list`` shows and ``revoke`` takes.
api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("digest", String(64), nullable=False),
    Column("workspace", String(64), nullable=False),
    Column("role", String(8), nullable=False),
    Column("name", String(128)),
    Column("created_at", Float, nullable=False),
    Column("revoked_at", Float),
    Index(None, "digest", unique=True),
)


# Flows: named, versioned templates of submitted work (command, config, resources, inputs,
# eval...). Each ``picidae flow add`` of a name stores a new version; ``spec`` is JSON.
flows = Table(
    "flows",
    metadata,
    Column("id", AutoId, primary_key=True, autoincrement=True),
    Column("workspace", String(64), nullable=False, server_default="default"),
    Column("name", String(256), nullable=False),
    Column("version", Integer, nullable=False),
    Column("spec", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    Index(None, "workspace", "name", "version", unique=True),
)


# Lineage: the versioned inputs a run used and the versioned outputs it produced (one row
# each; ``version`` or ``digest`` set), kept in step with the run's ``inputs`` and
# ``outputs`` so producers and consumers of a name are found by index (store/sql/lineage.py).
# ``at`` is the run's creation time: a version produced by a later run is the newer one.
run_io = Table(
    "run_io",
    metadata,
    Column("id", AutoId, primary_key=True, autoincrement=True),
    Column("run_id", String(36), nullable=False),
    Column("direction", String(8), nullable=False),
    Column("name", String(256), nullable=False),
    Column("version", String(256)),
    Column("digest", String(128)),
    Column("at", Float, nullable=False),
    Index(None, "run_id"),
    Index(None, "name", "direction"),
)

# Runs whose inputs are outdated: a newer version of something they consumed was produced
# (``upstream_id`` produced it), or a run upstream of them is stale. Recomputed whenever
# lineage changes; ``where stale = true`` reads it.
run_stale = Table(
    "run_stale",
    metadata,
    Column("run_id", String(36), primary_key=True),
    Column("reason", Text, nullable=False),
    Column("upstream_id", String(36)),
    Column("input", String(256)),
    Column("at", Float, nullable=False),
)

# Schedules (``picidae schedule add``): a cron expression (and time zone) that submits
# ``spec`` (a submission spec as JSON) or the latest version of ``flow`` at each slot.
# ``last_slot`` is the newest slot fired (or the creation time, before the first).
schedules = Table(
    "schedules",
    metadata,
    Column("workspace", String(64), nullable=False),
    Column("name", String(256), nullable=False),
    Column("cron", String(256), nullable=False),
    Column("tz", String(64), nullable=False),
    Column("spec", Text),
    Column("flow", String(256)),
    Column("paused", Integer, nullable=False, server_default="0"),
    Column("created_at", Float, nullable=False),
    Column("last_slot", Float, nullable=False),
    PrimaryKeyConstraint("workspace", "name"),
)

# One row per slot a schedule fired: the primary key makes firing a conditional insert, so
# any number of servers and workers fire each slot exactly once.
schedule_fires = Table(
    "schedule_fires",
    metadata,
    Column("workspace", String(64), nullable=False),
    Column("name", String(256), nullable=False),
    Column("slot", Float, nullable=False),
    Column("run_id", String(36)),
    Column("fired_at", Float, nullable=False),
    PrimaryKeyConstraint("workspace", "name", "slot"),
)

# Alert rules (``picidae alerts add``): which triggers (``on``: failed, lost, completed, alert,
# when) of which runs (``where``) are posted where (``kind``: webhook or slack, ``url``).
# ``cursor`` is the newest event id the rule has been matched against.
alerts = Table(
    "alerts",
    metadata,
    Column("workspace", String(64), nullable=False),
    Column("name", String(256), nullable=False),
    Column("on_events", String(256), nullable=False),
    Column("where_expr", Text),
    Column("when_expr", Text),
    Column("kind", String(16), nullable=False),
    Column("url", Text, nullable=False),
    Column("created_at", Float, nullable=False),
    Column("cursor", BigInteger, nullable=False, server_default="0"),
    PrimaryKeyConstraint("workspace", "name"),
)

# One row per alert to deliver: the unique (workspace, name, key) makes enqueueing a
# conditional insert, so any number of servers and workers make one delivery per alert; the
# conditional update of ``claimed_until`` lets one process at a time attempt it.
alert_deliveries = Table(
    "alert_deliveries",
    metadata,
    Column("id", AutoId, primary_key=True, autoincrement=True),
    Column("workspace", String(64), nullable=False),
    Column("name", String(256), nullable=False),
    Column("key", String(128), nullable=False),
    Column("run_id", String(36)),
    Column("payload", Text, nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_at", Float, nullable=False),
    Column("claimed_until", Float, nullable=False, server_default="0"),
    Column("created_at", Float, nullable=False),
    Column("delivered_at", Float),
    Column("last_error", Text),
    UniqueConstraint("workspace", "name", "key"),
    Index(None, "status", "next_at"),
)
