"""Alert rules kept in the database (``picidae alerts add/ls/rm``) and their deliveries.

Enqueueing a delivery is a conditional insert keyed by (workspace, rule, key) — the key names
what fired it (an event id, or a run for a ``when`` crossing) — so any number of servers and
workers that see the same trigger make one delivery. Attempting it is a conditional update
of ``claimed_until``: one process at a time holds a delivery. Each attempt is written to the
events log (``alert.delivery``).
"""

from __future__ import annotations

import builtins
import json
import time
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from picidae.errors import AlertNotFound, InvalidInput
from picidae.store.sql.tables import alert_deliveries, alerts, events

if TYPE_CHECKING:
    from picidae.store.sql.store import SqlStore


def _rule(r: Any) -> dict[str, Any]:
    return {"name": r.name, "on": [w for w in r.on_events.split(",") if w],
            "where": r.where_expr, "when": r.when_expr, "kind": r.kind, "url": r.url,
            "created_at": r.created_at, "cursor": r.cursor}


def _delivery(r: Any) -> dict[str, Any]:
    return {"id": r.id, "alert": r.name, "key": r.key, "run_id": r.run_id,
            "payload": json.loads(r.payload), "status": r.status, "attempts": r.attempts,
            "next_at": r.next_at, "created_at": r.created_at, "delivered_at": r.delivered_at,
            "last_error": r.last_error}


class AlertTable:
    """The alert rules and deliveries of a SQL store's workspace: ``AlertStore.alerts()``."""

    def __init__(self, store: SqlStore) -> None:
        self.store = store

    def _where(self, name: str) -> Any:
        return (alerts.c.workspace == self.store.workspace) & (alerts.c.name == name)

    def add(self, rule: dict[str, Any], *, now: float | None = None) -> dict[str, Any]:
        """Store a checked rule (``core.alerts.check_rule``); it sees events from now on."""
        now = time.time() if now is None else now
        with self.store._tx(write=True) as conn:
            if conn.execute(select(alerts.c.name).where(self._where(rule["name"]))).first():
                raise InvalidInput(f"an alert named {rule['name']!r} exists (remove it first: "
                                   f"picidae alerts rm {rule['name']})", field="name")
            cursor = conn.execute(select(func.max(events.c.id))).scalar() or 0
            conn.execute(insert(alerts).values(
                workspace=self.store.workspace, name=rule["name"], on_events=",".join(
                    rule["on"]), where_expr=rule["where"], when_expr=rule["when"],
                kind=rule["kind"], url=rule["url"], created_at=now, cursor=cursor))
        return self.get(rule["name"])

    def list(self) -> list[dict[str, Any]]:
        """Every rule of the workspace, by name."""
        with self.store._tx() as conn:
            rows = conn.execute(select(alerts).where(
                alerts.c.workspace == self.store.workspace).order_by(alerts.c.name)).all()
        return [_rule(r) for r in rows]

    def workspaces(self) -> builtins.list[str]:
        """Every workspace with an alert rule, whichever this table is bound to (what a
        server delivers for)."""
        with self.store._tx() as conn:
            return [w for (w,) in conn.execute(select(alerts.c.workspace).distinct()
                                               .order_by(alerts.c.workspace))]

    def get(self, name: str) -> dict[str, Any]:
        """One rule; ``AlertNotFound`` for an unknown name."""
        with self.store._tx() as conn:
            row = conn.execute(select(alerts).where(self._where(name))).first()
        if row is None:
            raise AlertNotFound(f"no alert named {name!r} (see 'picidae alerts ls')",
                                field="name")
        return _rule(row)

    def remove(self, name: str) -> dict[str, Any]:
        """Delete a rule and its undelivered alerts; returns what it was."""
        found = self.get(name)
        with self.store._tx(write=True) as conn:
            conn.execute(delete(alerts).where(self._where(name)))
            conn.execute(delete(alert_deliveries).where(
                alert_deliveries.c.workspace == self.store.workspace,
                alert_deliveries.c.name == name, alert_deliveries.c.status == "pending"))
        return found

    def advance(self, name: str, cursor: int) -> None:
        """Record that the rule has been matched against every event up to ``cursor``."""
        with self.store._tx(write=True) as conn:
            conn.execute(update(alerts).where(self._where(name), alerts.c.cursor < cursor)
                         .values(cursor=cursor))

    def enqueue(self, name: str, key: str, run_id: str | None, payload: dict[str, Any], *,
                now: float | None = None) -> bool:
        """Queue one delivery of rule ``name`` for ``key``: True for exactly one caller
        however many try; False when it was queued before."""
        now = time.time() if now is None else now
        try:
            with self.store._tx(write=True) as conn:
                conn.execute(insert(alert_deliveries).values(
                    workspace=self.store.workspace, name=name, key=key[:128], run_id=run_id,
                    payload=json.dumps(payload), status="pending", attempts=0, next_at=now,
                    claimed_until=0.0, created_at=now))
        except IntegrityError:
            return False
        return True

    def known(self, name: str, keys: builtins.list[str]) -> set[str]:
        """Which of ``keys`` rule ``name`` has queued already."""
        if not keys:
            return set()
        c = alert_deliveries.c
        found: set[str] = set()
        with self.store._tx() as conn:
            for i in range(0, len(keys), 500):
                found.update(conn.execute(select(c.key).where(
                    c.workspace == self.store.workspace, c.name == name,
                    c.key.in_(keys[i:i + 500]))).scalars())
        return found

    def due(self, *, now: float | None = None, limit: int = 50) -> builtins.list[
            dict[str, Any]]:
        """Pending deliveries whose next try is due and that nobody holds."""
        now = time.time() if now is None else now
        c = alert_deliveries.c
        with self.store._tx() as conn:
            rows = conn.execute(select(alert_deliveries).where(
                c.workspace == self.store.workspace, c.status == "pending", c.next_at <= now,
                c.claimed_until < now).order_by(c.id).limit(limit)).all()
        return [_delivery(r) for r in rows]

    def claim(self, delivery_id: int, *, lease_s: float, now: float | None = None) -> bool:
        """Hold a due delivery for ``lease_s`` seconds: True for one caller at a time."""
        now = time.time() if now is None else now
        c = alert_deliveries.c
        with self.store._tx(write=True) as conn:
            return bool(conn.execute(update(alert_deliveries).where(
                c.id == delivery_id, c.status == "pending", c.claimed_until < now)
                .values(claimed_until=now + lease_s)).rowcount)

    def attempted(self, delivery: dict[str, Any], *, ok: bool, detail: str | None,
                  next_at: float | None, now: float | None = None) -> None:
        """Record one attempt of a claimed delivery (and an ``alert.delivery`` event):
        delivered when ``ok``; else tried again at ``next_at``, or given up without one."""
        now = time.time() if now is None else now
        attempts = delivery["attempts"] + 1
        status = "delivered" if ok else ("pending" if next_at is not None else "failed")
        with self.store._tx(write=True) as conn:
            conn.execute(update(alert_deliveries).where(alert_deliveries.c.id == delivery["id"])
                         .values(status=status, attempts=attempts, claimed_until=0.0,
                                 next_at=next_at if next_at is not None else now,
                                 delivered_at=now if ok else None,
                                 last_error=None if ok else detail))
            self.store._event(conn, "alert.delivery", delivery["run_id"], now, {
                "alert": delivery["alert"], "delivery": delivery["id"], "attempt": attempts,
                "status": status, "ok": ok, "detail": detail})

    def deliveries(self, name: str | None = None) -> builtins.list[dict[str, Any]]:
        """Every delivery (of rule ``name``, if given), oldest first."""
        c = alert_deliveries.c
        stmt = select(alert_deliveries).where(c.workspace == self.store.workspace)
        if name is not None:
            stmt = stmt.where(c.name == name)
        with self.store._tx() as conn:
            rows = conn.execute(stmt.order_by(c.id)).all()
        return [_delivery(r) for r in rows]
