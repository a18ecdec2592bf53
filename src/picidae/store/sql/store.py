"""``SqlStore``: the Store protocol over SQLAlchemy Core, shared by SQLite and PostgreSQL.

The store is assembled from parts, each a module: the plumbing (``base.py``: transactions,
error translation, row loading, events), state changes (``moves.py``: transitions,
heartbeats, the watchdog, applying ``core/lifecycle.py``'s rules), the batch write
(``writes.py``) and, here, creating, reading and deleting runs, metrics and logs, artifacts,
workspaces and events. Dialect differences (pragmas, locking, upserts) live in
``sqlite.py`` and ``postgres.py``; these modules write portable SQL only.
"""

from __future__ import annotations

import copy
import json
import math
import time
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, bindparam, delete, func, insert, select
from sqlalchemy.exc import IntegrityError

from picidae.core.lifecycle import artifact_refusal
from picidae.core.run import COLUMN_FIELDS, DATA_FIELDS, LogLine, data_default
from picidae.errors import InvalidInput, RunNotFound
from picidae.store.base import MetricSeries, RunQuery
from picidae.store.sql import artifact_rows, lineage, package_sets
from picidae.store.sql import chunks as chunkio
from picidae.store.sql import query as q
from picidae.store.sql.alerts import AlertTable
from picidae.store.sql.base import (
    _INSERT_EVENT,
    FIELD_COLUMNS,
    _lineage_on,
    fact_columns,
    facts,
    field_rows,
    field_tuples,
    safe_text,
)
from picidae.store.sql.deferred import NewRun, Waiting
from picidae.store.sql.documents import dumps, reparsed
from picidae.store.sql.event_log import EventReader
from picidae.store.sql.prepared import Prepared
from picidae.store.sql.schedules import ScheduleTable
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
from picidae.store.sql.whole_runs import (
    EVENT_COLUMNS,
    TAG_COLUMNS,
    TRANSITION_COLUMNS,
    Rows,
    created_events,
    plain,
    transition_tuples,
)
from picidae.store.sql.writes import _CHUNKS_OF, _INSERT_CHUNKS, Writes, latest_set

__all__ = ["SqlStore", "dumps", "field_rows", "latest_set", "safe_text"]

#: The old private name of ``field_rows`` (benchmarks and tests import it).
_field_rows = field_rows

_INSERT_RUN = Prepared(insert(runs))
_INSERT_FIELDS = Prepared(insert(run_fields))
_INSERT_TAGS = Prepared(insert(run_tags))
#: A metric's chunks, read on SQLite's cursor: a W5 read of ten series is ten of these.
_CHUNKS = Prepared(_CHUNKS_OF)
_INSERT_TRANSITIONS = Prepared(insert(transitions))
_RUN_EXISTS = select(runs.c.id).where(runs.c.id == bindparam("b_id"))


class SqlStore(Writes):
    """A store on a SQL database (see the module docstring)."""

    # -- runs ---------------------------------------------------------------------------

    def create_run(self, record: dict[str, Any]) -> dict[str, Any]:
        """See ``Store.create_run``."""
        new, made = self._new_run(record)
        try:
            with self._tx(write=True) as conn:
                self._insert_new_run(conn, new)
        except IntegrityError:
            if self._exists(new.run_id):
                raise InvalidInput(f"a run with id {new.run_id!r} exists already",
                                   field="id") from None
            raise
        return made

    def create_run_later(self, record: dict[str, Any]) -> dict[str, Any]:
        """``create_run``, its rows written a moment later (``deferred.py``): with the run's
        end when it ends first, and with other new runs, in one transaction. Any other use
        of this store in this process writes them first. For ids nobody else can know yet
        (a new run's own): a duplicate id is not refused here but reported when written."""
        if self.read_only:  # refused now, as create_run refuses it
            return self.create_run(record)
        new, made = self._new_run(record)
        self._deferred.add(Waiting(new, self))
        return made

    def _write_waiting(self, conn: Connection, waiting: list[Waiting]) -> None:
        """Write waiting runs (``create_run_later``) and their ends in ``conn``: the usual
        short run whole, all of them together (``whole_runs.py``); any other the generic way,
        as ``create_run`` and ``write_and_move`` would."""
        # OpenLineage on: every run the generic way, which hands its moves to the emitter.
        whole = None if _lineage_on() else Rows()
        for one in waiting:
            if whole is not None and plain(one):
                whole.add(one)
                continue
            store: SqlStore = one.store  # the workspace copy that made it
            store._insert_new_run(conn, one.new)
            end = one.end
            if end is not None:
                store._write_and_move_in(conn, one.new.run_id, end.batch, end.target,
                                         at=end.at, reason=end.reason, actor=end.actor,
                                         failure=end.failure, claim=False)
        if whole is None or not whole.runs:
            return
        _INSERT_RUN.run(conn, whole.runs)
        for digest, body in whole.packages.items():
            package_sets.keep(conn, digest, body)
        for stmt, names, rows in (
                (_INSERT_FIELDS, FIELD_COLUMNS, whole.fields),
                (_INSERT_TAGS, TAG_COLUMNS, whole.tags),
                (_INSERT_TRANSITIONS, TRANSITION_COLUMNS, whole.transitions),
                (_INSERT_EVENT, EVENT_COLUMNS, whole.events),
                (_INSERT_CHUNKS, chunkio.CHUNK_COLUMNS, whole.chunks)):
            stmt.run_rows(conn, names, rows)
        if whole.latest:
            self._upsert_latest(conn, whole.latest)
        if whole.logs:
            conn.execute(insert(logs), whole.logs)

    def settle(self) -> None:
        """See ``DeferringStore.settle``."""
        if self._deferred:
            self._deferred.settle()

    def _new_run(self, record: dict[str, Any]) -> tuple[NewRun, dict[str, Any]]:
        """The rows of a new run, ready to insert (``_insert_new_run``), and its record as a
        read would give it back (no read: nothing else can change a row being created)."""
        run_id = record["id"]
        row = {name: record.get(name) for name in COLUMN_FIELDS if name != "workspace"}
        row["workspace"] = self.workspace
        row["attempt"] = record.get("attempt") or 1
        data = {name: record[name] if name in record else data_default(name)
                for name in DATA_FIELDS}
        # The packages are stored once per distinct set; the document names theirs.
        stored, digest, packages = package_sets.split(data)
        row["data"] = dumps(stored)
        row["packages_digest"] = digest
        row.update(fact_columns(data))
        moves = [{"from": t["from"], "to": t["to"], "at": t["at"],
                  "reason": safe_text(t.get("reason")), "actor": t.get("actor")}
                 for t in record.get("transitions") or []]
        created = record["created_at"]
        # The record as a read would give it: the document copied as its text parses (no
        # parse of the text just written), its packages put back as a read puts them.
        rec = self._record_of({**row, "packages_json": packages}, doc=reparsed(stored))
        rec["transitions"] = [{**t, "at": float(t["at"])} for t in moves]
        return NewRun(run_id, row, data, packages, moves, created, record), rec

    def _insert_new_run(self, conn: Connection, new: NewRun) -> None:
        """Write ``new`` (from ``_new_run``) in the caller's transaction. No existence check
        first: the primary key refuses a duplicate id."""
        run_id, data, row = new.run_id, new.data, new.row
        _INSERT_RUN.run(conn, row)
        if row["packages_digest"] is not None and new.packages is not None:
            package_sets.keep(conn, row["packages_digest"], new.packages)
        _INSERT_FIELDS.run_rows(conn, FIELD_COLUMNS,
                                field_tuples(run_id, "config", data["config"], new.created)
                                + field_tuples(run_id, "summary", data["summary"],
                                               new.created))
        _INSERT_TAGS.run_rows(conn, TAG_COLUMNS, [(run_id, t) for t in data["tags"]])
        _INSERT_TRANSITIONS.run_rows(conn, TRANSITION_COLUMNS,
                                     transition_tuples(run_id, new.moves))
        self._events(conn, created_events(new))
        if data["inputs"] or data["outputs"]:
            self._sync_lineage(conn, run_id, new.created, data)

    def _exists(self, run_id: str) -> bool:
        with self._tx() as conn:
            return conn.execute(_RUN_EXISTS, {"b_id": run_id}).first() is not None

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
        from picidae.store.sql import aggregates

        query.workspace = self.workspace
        with self._tx() as conn:
            return aggregates.count(conn, query)

    # -- aggregates (see store/sql/aggregates.py) ----------------------------------------

    def status_counts(self, query: RunQuery) -> dict[str, int]:
        """See ``AggregateStore.status_counts``."""
        from picidae.store.sql import aggregates

        query.workspace = self.workspace
        self._maybe_apply_liveness()
        with self._tx() as conn:
            return aggregates.status_counts(conn, query)

    def status_timeline(self, query: RunQuery, start: float, size: float,
                        n: int) -> dict[int, dict[str, int]]:
        """See ``AggregateStore.status_timeline``."""
        from picidae.store.sql import aggregates

        query.workspace = self.workspace
        self._maybe_apply_liveness()
        with self._tx() as conn:
            return aggregates.status_timeline(conn, query, start, size, n)

    def run_figures(self, query: RunQuery, *, by: str | None = None,
                    percentiles: tuple[int, ...] = (50, 95)) -> dict[Any, dict[str, Any]]:
        """See ``AggregateStore.run_figures``."""
        from picidae.store.sql import aggregates

        query.workspace = self.workspace
        self._maybe_apply_liveness()
        with self._tx() as conn:
            return aggregates.figures(conn, query, by=by, percentiles=percentiles)

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

    def edit_run(self, run_id: str, changes: dict[str, Any], *,
                 actor: str | None = None) -> dict[str, Any]:
        """See ``Store.edit_run`` (``store/sql/edits.py``)."""
        from picidae.store.sql import edits

        return edits.edit_run(self, run_id, changes, actor)

    def restore_run(self, run_id: str, *, actor: str | None = None) -> dict[str, Any]:
        """See ``Store.restore_run`` (``store/sql/edits.py``)."""
        from picidae.store.sql import edits

        return edits.restore_run(self, run_id, actor)

    # -- lineage (see store/sql/lineage.py) ---------------------------------------------

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

    def metrics(self, run_id: str, key: str, max_points: int | None = None) -> MetricSeries:
        """See ``Store.metrics``."""
        with self._tx() as conn:
            return chunkio.read_series(key, _CHUNKS.rows(conn, {"c_run": run_id, "c_key": key}),
                                       max_points)

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

    def schedules(self) -> ScheduleTable:
        """See ``ScheduleStore.schedules`` (``store/sql/schedules.py``)."""
        return ScheduleTable(self)

    def alerts(self) -> AlertTable:
        """See ``AlertStore.alerts`` (``store/sql/alerts.py``)."""
        return AlertTable(self)

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

    def claim(self, worker: str, *, queue: str = "default", limit: int = 1,
              fits: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """See ``Store.claim``."""
        from picidae.store.sql import queue as work

        return work.claim(self, worker, queue=queue, limit=limit, fits=fits)

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

    def add_artifact(self, run_id: str, record: dict[str, Any], *,
                     backfill: bool = False) -> dict[str, Any]:
        """See ``Store.add_artifact``."""
        rec = artifact_rows.clean_record(record)
        with self._tx(write=True) as conn:
            row = self._load_row(conn, run_id, lock=True)
            refused = None if backfill else artifact_refusal(facts(row))
            if refused is not None:
                raise refused
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
        """See ``Store.close``. Runs waiting to be written are written first (what cannot
        be is reported on the ``picidae`` logger, by run id)."""
        if self._deferred:
            self._deferred.report_left()
        self.engine.dispose()

