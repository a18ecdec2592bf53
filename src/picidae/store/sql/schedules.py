"""Schedules kept in the database (``picidae schedule add/ls/rm/pause/resume``) and the
slots they fired.

Firing a slot is a conditional insert into ``schedule_fires`` keyed by (workspace, schedule,
slot): of any number of servers and workers that try, exactly one inserts the row and submits
the run; the others see the key taken.
"""

from __future__ import annotations

import builtins
import json
import time
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, desc, insert, select, update
from sqlalchemy.exc import IntegrityError

from picidae.core.validation import clean_label
from picidae.errors import InvalidInput, ScheduleNotFound
from picidae.store.sql.tables import schedule_fires, schedules

if TYPE_CHECKING:
    from picidae.store.sql.store import SqlStore


def _row(r: Any, last: Any = None) -> dict[str, Any]:
    return {"name": r.name, "cron": r.cron, "tz": r.tz,
            "spec": json.loads(r.spec) if r.spec else None, "flow": r.flow,
            "paused": bool(r.paused), "created_at": r.created_at, "last_slot": r.last_slot,
            "last_run": None if last is None else {"id": last.run_id, "slot": last.slot,
                                                   "fired_at": last.fired_at}}


class ScheduleTable:
    """The schedules of a SQL store's workspace: ``ScheduleStore.schedules()``."""

    def __init__(self, store: SqlStore) -> None:
        self.store = store

    def _where(self, name: str) -> Any:
        return (schedules.c.workspace == self.store.workspace) & (schedules.c.name == name)

    def _last(self, conn: Any, name: str) -> Any:
        return conn.execute(select(schedule_fires).where(
            schedule_fires.c.workspace == self.store.workspace,
            schedule_fires.c.name == name).order_by(desc(schedule_fires.c.slot))
            .limit(1)).first()

    def add(self, name: str, cron: str, tz: str, *, spec: dict[str, Any] | None = None,
            flow: str | None = None, now: float | None = None) -> dict[str, Any]:
        """Store a new schedule (its first slot is the first after ``now``)."""
        name = clean_label(name, "name", max_len=256) or ""
        if not name:
            raise InvalidInput("a schedule needs a name", field="name")
        now = time.time() if now is None else now
        with self.store._tx(write=True) as conn:
            if conn.execute(select(schedules.c.name).where(self._where(name))).first():
                raise InvalidInput(f"a schedule named {name!r} exists (remove it first: "
                                   f"picidae schedule rm {name})", field="name")
            conn.execute(insert(schedules).values(
                workspace=self.store.workspace, name=name, cron=cron, tz=tz,
                spec=json.dumps(spec) if spec is not None else None, flow=flow, paused=0,
                created_at=now, last_slot=now))
        return self.get(name)

    def list(self) -> list[dict[str, Any]]:
        """Every schedule of the workspace, by name, with its ``last_run``."""
        with self.store._tx() as conn:
            rows = conn.execute(select(schedules).where(
                schedules.c.workspace == self.store.workspace).order_by(schedules.c.name)).all()
            return [_row(r, self._last(conn, r.name)) for r in rows]

    def workspaces(self) -> builtins.list[str]:
        """Every workspace with a schedule, whichever this table is bound to (what a server
        fires)."""
        with self.store._tx() as conn:
            return [w for (w,) in conn.execute(select(schedules.c.workspace).distinct()
                                               .order_by(schedules.c.workspace))]

    def get(self, name: str) -> dict[str, Any]:
        """One schedule; ``ScheduleNotFound`` for an unknown name."""
        with self.store._tx() as conn:
            row = conn.execute(select(schedules).where(self._where(name))).first()
            if row is None:
                raise ScheduleNotFound(f"no schedule named {name!r} (see 'picidae schedule "
                                       "ls')", field="name")
            return _row(row, self._last(conn, name))

    def remove(self, name: str) -> dict[str, Any]:
        """Delete a schedule and the record of its fired slots; returns what it was."""
        found = self.get(name)
        with self.store._tx(write=True) as conn:
            conn.execute(delete(schedules).where(self._where(name)))
            conn.execute(delete(schedule_fires).where(
                schedule_fires.c.workspace == self.store.workspace,
                schedule_fires.c.name == name))
        return found

    def set_paused(self, name: str, paused: bool, *, now: float | None = None,
                   ) -> dict[str, Any]:
        """Pause or resume a schedule. Resuming skips the slots missed while paused."""
        self.get(name)
        values: dict[str, Any] = {"paused": int(paused)}
        if not paused:
            values["last_slot"] = time.time() if now is None else now
        with self.store._tx(write=True) as conn:
            conn.execute(update(schedules).where(
                self._where(name), schedules.c.paused == int(not paused)).values(**values))
        return self.get(name)

    def claim(self, name: str, slot: float, *, now: float | None = None) -> bool:
        """Take ``slot`` of schedule ``name`` for the caller to fire: True for exactly one
        caller however many try; False when it was taken (or is not newer than the last)."""
        now = time.time() if now is None else now
        try:
            with self.store._tx(write=True) as conn:
                conn.execute(insert(schedule_fires).values(
                    workspace=self.store.workspace, name=name, slot=slot, run_id=None,
                    fired_at=now))
                moved = conn.execute(update(schedules).where(
                    self._where(name), schedules.c.last_slot < slot,
                    schedules.c.paused == 0).values(last_slot=slot)).rowcount
                if not moved:
                    raise _Stale
        except (IntegrityError, _Stale):
            return False
        return True

    def fired(self, name: str, slot: float, run_id: str) -> None:
        """Record the run a claimed slot submitted."""
        with self.store._tx(write=True) as conn:
            conn.execute(update(schedule_fires).where(
                schedule_fires.c.workspace == self.store.workspace,
                schedule_fires.c.name == name, schedule_fires.c.slot == slot)
                .values(run_id=run_id))

    def fires(self, name: str) -> builtins.list[dict[str, Any]]:
        """Every slot the schedule fired, oldest first: ``{slot, run_id, fired_at}``."""
        with self.store._tx() as conn:
            rows = conn.execute(select(schedule_fires).where(
                schedule_fires.c.workspace == self.store.workspace,
                schedule_fires.c.name == name).order_by(schedule_fires.c.slot)).all()
        return [{"slot": r.slot, "run_id": r.run_id, "fired_at": r.fired_at} for r in rows]


class _Stale(Exception):
    """The slot is not newer than the schedule's last (or it was paused): roll back."""
