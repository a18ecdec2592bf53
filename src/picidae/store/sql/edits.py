"""Editing and restoring runs on a SQL store (``SqlStore.edit_run``, ``restore_run``).

An edit is annotation, not a write of results: unlike ``write`` it is allowed in every state.
It sets the ``alias`` and ``notes`` columns, rewrites the run's tags (document and
``run_tags``), appends ``{at, actor, changes}`` to the document's ``edits`` and emits a
``run.edited`` event, in one transaction. A restore moves an archived run back to the
terminal state it was archived from, as a recorded transition (``run.transition`` event).
"""

from __future__ import annotations

import json
import time
from typing import Any

from sqlalchemy import delete, insert, update

from picidae.core.edits import add_edit, apply_edit, clean_edit, restore_target
from picidae.store.sql.base import SqlBase, fact_columns, safe_text
from picidae.store.sql.documents import dumps
from picidae.store.sql.tables import run_tags, runs, transitions


def edit_run(store: SqlBase, run_id: str, changes: dict[str, Any],
             actor: str | None) -> dict[str, Any]:
    """See ``Store.edit_run``."""
    cleaned = clean_edit(changes)
    at = time.time()
    with store._tx(write=True) as conn:
        row = store._load_row(conn, run_id, lock=True)
        data = json.loads(row.data)
        current = {"tags": data.get("tags") or []}
        values = apply_edit(current, cleaned)
        columns: dict[str, Any] = {}
        if "alias" in values:
            columns["alias"] = values["alias"]
        if "notes" in values:
            columns["notes"] = safe_text(values["notes"])
        if "tags" in values:
            data["tags"] = values["tags"]
            conn.execute(delete(run_tags).where(run_tags.c.run_id == run_id))
            if values["tags"]:
                conn.execute(insert(run_tags), [{"run_id": run_id, "tag": t}
                                                for t in values["tags"]])
        entry = {"at": at, "actor": actor, "changes": cleaned}
        data["edits"] = add_edit(data.get("edits"), entry)
        columns["data"] = dumps(data)
        columns.update(fact_columns(data))
        conn.execute(update(runs).where(runs.c.id == run_id).values(columns))
        store._event(conn, "run.edited", run_id, at, entry)
        rec = store._record(store._load_row(conn, run_id))
        rec["transitions"] = store._transitions(conn, run_id)
    return rec


def restore_run(store: SqlBase, run_id: str, actor: str | None) -> dict[str, Any]:
    """See ``Store.restore_run``."""
    at = time.time()
    with store._tx(write=True) as conn:
        row = store._load_row(conn, run_id, lock=True)
        target = restore_target(run_id, row.status, store._transitions(conn, run_id))
        reason = "restored from the archive"
        conn.execute(update(runs).where(runs.c.id == run_id, runs.c.status == row.status)
                     .values(status=target.value))
        conn.execute(insert(transitions).values(
            run_id=run_id, from_state=row.status, to_state=target.value, at=at,
            reason=reason, actor=actor))
        store._event(conn, "run.transition", run_id, at,
                     {"from": row.status, "to": target.value, "reason": reason,
                      "actor": actor})
        rec = store._record(store._load_row(conn, run_id))
        rec["transitions"] = store._transitions(conn, run_id)
    return rec
