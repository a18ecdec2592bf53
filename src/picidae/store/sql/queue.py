"""Work for workers on a SQL store: claiming queued runs, and flows (versioned templates).

A claim is one write transaction that picks the oldest queued runs of a queue and moves each
to ``provisioning`` with a conditional update (``WHERE status = 'queued'``), so two workers
can never both take a run:

- on SQLite the transaction starts with ``BEGIN IMMEDIATE`` (``sqlite.py``): claims are
  serialised by the database's write lock;
- on PostgreSQL the pick is ``SELECT ... FOR UPDATE SKIP LOCKED``: concurrent claims lock
  different rows and never wait on each other (``SKIP LOCKED`` is dropped by SQLAlchemy on
  SQLite, where it means nothing).

A claim may say what the worker has free (``fits``: ``cpus``, ``gpus``, ``memory_mb``): then
only runs whose ``resources.request`` fits are picked, oldest first (a request that does not
name a resource asks for none of it). The request lives in the run's JSON ``data`` (which may
hold NaN, which neither SQLite's nor PostgreSQL's JSON functions accept), so the oldest
``SCAN`` queued runs are read without a lock, the fitting ones chosen in Python, and then
picked as above (locked, and still ``queued``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError

from picidae.core.states import State
from picidae.core.validation import clean_key, clean_label, clean_mapping
from picidae.errors import FlowNotFound, InvalidInput
from picidae.store.sql.base import fact_columns
from picidae.store.sql.documents import dumps
from picidae.store.sql.tables import flows, runs

if TYPE_CHECKING:
    from picidae.store.sql.store import SqlStore

MAX_CLAIM = 100
#: How many of the oldest queued runs a claim with ``fits`` looks through.
SCAN = 1000
#: What a claim's ``fits`` may bound: the names of ``resources.request``.
FIT_KEYS = ("cpus", "gpus", "memory_mb")


def clean_fits(fits: Mapping[str, Any] | None) -> dict[str, float]:
    """``fits`` checked: known keys, non-negative numbers (``InvalidInput`` otherwise)."""
    if fits is None:
        return {}
    if not isinstance(fits, Mapping):
        raise InvalidInput(f"fits must be a mapping, got {fits!r}", field="fits")
    out: dict[str, float] = {}
    for key, value in fits.items():
        if key not in FIT_KEYS:
            raise InvalidInput(f"fits: unknown resource {key!r} (known: "
                               f"{', '.join(FIT_KEYS)})", field="fits")
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
            raise InvalidInput(f"fits.{key} must be a non-negative number, got {value!r}",
                               field="fits")
        out[key] = float(value)
    return out


def fits_request(data: Mapping[str, Any], free: Mapping[str, float]) -> bool:
    """Whether a run's ``resources.request`` (in its ``data``) fits ``free``."""
    resources = data.get("resources")
    request = resources.get("request") if isinstance(resources, dict) else None
    request = request if isinstance(request, dict) else {}
    for key, value in free.items():
        asked = request.get(key)
        if isinstance(asked, int | float) and not isinstance(asked, bool) and asked > value:
            return False
    return True


def claim(store: SqlStore, worker: str, *, queue: str = "default", limit: int = 1,
          fits: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """See ``Store.claim``."""
    worker = clean_label(worker, "worker") or ""
    if not worker:
        raise InvalidInput("a claim needs the worker's name", field="worker")
    queue = clean_label(queue, "queue", max_len=64) or "default"
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_CLAIM:
        raise InvalidInput(f"limit must be an int from 1 to {MAX_CLAIM}, got {limit!r}",
                           field="limit")
    free = clean_fits(fits)
    now = time.time()
    waiting = (runs.c.status == State.QUEUED.value, runs.c.queue == queue,
               runs.c.workspace == store.workspace)
    pick = select(runs).where(*waiting)
    if free:
        with store._tx() as conn:
            scan = conn.execute(select(runs.c.id, runs.c.data).where(*waiting).order_by(
                runs.c.created_at, runs.c.id).limit(SCAN)).all()
        fitting = [row.id for row in scan if fits_request(json.loads(row.data), free)]
        if not fitting:
            return []
        pick = pick.where(runs.c.id.in_(fitting[:MAX_CLAIM]))
    pick = (pick.order_by(runs.c.created_at, runs.c.id).limit(limit)
            .with_for_update(skip_locked=True))
    claimed: list[str] = []
    with store._tx(write=True) as conn:
        for row in conn.execute(pick).all():
            store._move(conn, row, State.PROVISIONING, reason=f"claimed by worker {worker}",
                        actor=worker, at=now)
            data = json.loads(row.data)
            data["compute"] = {**(data.get("compute") or {}), "worker": worker,
                               "queue": queue, "claimed_at": now}
            # The heartbeat clock is the worker's lease: it starts at the claim.
            conn.execute(update(runs).where(runs.c.id == row.id).values(
                data=dumps(data), last_heartbeat_at=now, **fact_columns(data)))
            claimed.append(row.id)
        out = []
        for run_id in claimed:
            rec = store._record(store._load_row(conn, run_id), now)
            rec["transitions"] = store._transitions(conn, run_id)
            out.append(rec)
    return out


def _flow_name(name: Any) -> str:
    value = clean_key(name, "flow name")
    if "/" in value or value.strip() != value or len(value) > 256:
        raise InvalidInput(f"a flow name is one word without '/' (at most 256 characters), "
                           f"got {name!r}", field="name")
    return value


def _flow(row: Any) -> dict[str, Any]:
    return {"name": row.name, "version": row.version, "spec": json.loads(row.spec),
            "created_at": row.created_at}


def add_flow(store: SqlStore, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    """See ``Store.add_flow``."""
    name = _flow_name(name)
    body = dumps(clean_mapping(spec, "spec"))
    for _ in range(5):  # two adds racing for one version number: the loser takes the next
        now = time.time()
        try:
            with store._tx(write=True) as conn:
                top = conn.execute(select(func.max(flows.c.version)).where(
                    flows.c.workspace == store.workspace, flows.c.name == name)).scalar()
                version = int(top or 0) + 1
                conn.execute(insert(flows).values(workspace=store.workspace, name=name,
                                                  version=version, spec=body, created_at=now))
                store._event(conn, "flow.added", None, now, {"name": name, "version": version})
        except IntegrityError:
            continue
        return {"name": name, "version": version, "spec": json.loads(body), "created_at": now}
    raise InvalidInput(f"flow {name!r} is being changed by others; try again", field="name")


def get_flow(store: SqlStore, name: str, version: int | None = None) -> dict[str, Any]:
    """See ``Store.get_flow``."""
    stmt = select(flows).where(flows.c.workspace == store.workspace, flows.c.name == name)
    if version is not None:
        stmt = stmt.where(flows.c.version == version)
    with store._tx() as conn:
        row = conn.execute(stmt.order_by(flows.c.version.desc()).limit(1)).first()
    if row is None:
        at = f" version {version}" if version is not None else ""
        raise FlowNotFound(f"no flow {name!r}{at}; add one with 'picidae flow add {name} -- "
                           "CMD'", field="name")
    return _flow(row)


def list_flows(store: SqlStore) -> list[dict[str, Any]]:
    """See ``Store.list_flows``."""
    latest = (select(flows.c.name, func.max(flows.c.version).label("top"),
                     func.count().label("n"))
              .where(flows.c.workspace == store.workspace).group_by(flows.c.name).subquery())
    stmt = (select(flows, latest.c.n).join(latest, (flows.c.name == latest.c.name)
                                          & (flows.c.version == latest.c.top))
            .where(flows.c.workspace == store.workspace).order_by(flows.c.name))
    out = []
    with store._tx() as conn:
        for row in conn.execute(stmt).all():
            item = _flow(row)
            item["versions"] = row.n
            last = conn.execute(
                select(runs.c.id, runs.c.status, runs.c.created_at, runs.c.ended_at)
                .where(runs.c.workspace == store.workspace, runs.c.flow == row.name)
                .order_by(runs.c.created_at.desc(), runs.c.id.desc()).limit(1)).first()
            item["last_run"] = None if last is None else {
                "id": last.id, "status": last.status, "created_at": last.created_at,
                "ended_at": last.ended_at}
            out.append(item)
    return out
