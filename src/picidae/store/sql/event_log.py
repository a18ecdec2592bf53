"""Reading the events log in order without missing an event that commits late.

Event ids come from a sequence when the row is inserted, not when its transaction commits. On
PostgreSQL two writers can take ids 41 and 42 and commit 42 first: a reader that saw 42 and
moved its cursor past it would never see 41. ``EventReader`` never moves its cursor past a
missing id until the id appears or ``HOLD_S`` seconds have passed since the reader first
noticed the gap (an id can be missing for good: its transaction rolled back). Events after a
gap are held back meanwhile, so every reader delivers them in id order, and a cursor handed to
a client (the SSE ``id``) is always safe to resume from.

Gaps are judged over every workspace's events (ids are shared), and the workspace and run
filters apply afterwards. SQLite assigns ids in commit order (one writer at a time), so there
the reader never has to wait.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from picidae.store.sql.tables import events

if TYPE_CHECKING:
    from picidae.store.sql.store import SqlStore

#: How long a reader waits for a missing id before deciding it rolled back.
HOLD_S = 2.0


def envelope(row: Any) -> dict[str, Any]:
    """An event as stores return it: ``id``, ``type``, ``run_id``, ``at`` and ``payload``."""
    return {"id": row.id, "type": row.type, "run_id": row.run_id, "at": row.at,
            "payload": json.loads(row.payload)}


class EventReader:
    """One reader's position in a SQL store's events log (see the module docstring)."""

    def __init__(self, store: SqlStore, after: int, *, run_id: str | None = None,
                 hold_s: float = HOLD_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.cursor = after
        self.run_id = run_id
        self.hold_s = hold_s
        self.clock = clock
        #: Whether events are held back behind a gap (poll again within ``hold_s``).
        self.holding = False
        self._gaps: dict[int, float] = {}  # first missing id → when this reader saw it

    def poll(self, limit: int = 500) -> list[dict[str, Any]]:
        """The next events of the store's workspace (and run, if given) that are safe to
        deliver, oldest first; advances the cursor past them."""
        stmt = (select(events).where(events.c.id > self.cursor).order_by(events.c.id)
                .limit(limit))
        with self.store._tx() as conn:
            rows = conn.execute(stmt).all()
        return self.take(rows)

    def take(self, rows: Sequence[Any]) -> list[dict[str, Any]]:
        """Deliverable events from ``rows`` (every workspace's, ids above the cursor, in id
        order), holding back whatever follows a gap that may still fill."""
        now = self.clock()
        out: list[dict[str, Any]] = []
        workspace = self.store.workspace
        self.holding = False
        for row in rows:
            expected = self.cursor + 1
            if row.id > expected:
                for missing in range(expected, min(row.id, expected + 1000)):
                    self._gaps.setdefault(missing, now)
                if now - self._gaps[expected] < self.hold_s:
                    self.holding = True
                    break
            self.cursor = row.id
            if row.workspace == workspace and (self.run_id is None
                                               or row.run_id == self.run_id):
                out.append(envelope(row))
        if self._gaps:
            self._gaps = {gap: t for gap, t in self._gaps.items() if gap > self.cursor}
        return out
