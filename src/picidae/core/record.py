"""Building a new run record from user input: one validated path for the SDK and the API.

Each given field passes its validator from the field table (``core.fields``); what a new
run derives (id, root, times, its first transition) is filled in here.
"""

from __future__ import annotations

import time
from typing import Any

from picidae.core.fields import (
    BY_NAME,
    DATA,
    clean_create_fields,
    clean_primary,
    clean_seed,
    clean_trigger,
    data_default,
    json_field,
    names,
)
from picidae.core.ids import new_id
from picidae.core.states import State
from picidae.core.validation import clean_name

__all__ = ["clean_primary", "clean_seed", "clean_trigger", "json_field", "new_record"]

#: Fields every new record gets from ``new_record`` itself, not from a default.
_SET_HERE = ("name", "status", "created_at", "transitions")
#: The other create-settable fields, in table order, and whether each is a data field (a
#: copy of its default) or a column (``None``).
_DEFAULTED = tuple((name, BY_NAME[name].stored == DATA) for name in names(create=True)
                   if name not in _SET_HERE)
#: The same as a template: every one ``None``, in table order; then the data fields whose
#: default is an empty dict or list (a new one each, made by its type) and the others
#: (copied by ``data_default``).
_BLANK: dict[str, Any] = dict.fromkeys(name for name, _ in _DEFAULTED)
_EMPTY = tuple((name, type(BY_NAME[name].default)) for name, data in _DEFAULTED
               if data and type(BY_NAME[name].default) in (dict, list)
               and not BY_NAME[name].default)
_COPIED = tuple(name for name, data in _DEFAULTED if data and BY_NAME[name].default
                is not None and name not in dict(_EMPTY))


def new_record(name: str | None, *, status: str = "running", parent: dict[str, Any] | None = None,
               actor: str = "sdk", reason: str | None = None, now: float | None = None,
               **values: Any) -> dict[str, Any]:
    """A complete, validated record for a new run, ``queued`` or already ``running`` (with its
    ``queued → running`` transition). ``parent`` is the parent's stored record; ``values``
    are any fields a create request may set (``alias``, ``kind``, ``config``, ``tags``,
    ``seed``, ``queue``, ``inputs``... — see ``core.fields``), each checked by its
    validator."""
    values.pop("parent_id", None)  # the parent record says it
    cleaned = clean_create_fields({"status": status, **values})
    status = cleaned.pop("status")
    now = cleaned.pop("created_at", None) or (time.time() if now is None else now)
    run_id = new_id()
    running = status == State.RUNNING.value
    record = _BLANK.copy()
    for field, kind in _EMPTY:
        record[field] = kind()
    for field in _COPIED:
        record[field] = data_default(field)
    record.update({
        "id": run_id,
        "name": clean_name(name),
        "parent_id": parent["id"] if parent else None,
        "root_id": (parent.get("root_id") or parent["id"]) if parent else run_id,
        "status": status,
        "trigger": clean_trigger(None),
        "attempt": 1,
        "created_at": now,
        "started_at": now if running else None,
        "last_heartbeat_at": now if running else None,
        "transitions": [{"from": State.QUEUED.value, "to": State.RUNNING.value, "at": now,
                         "reason": reason or "started in-process", "actor": actor}]
        if running else [],
    })
    record.update(cleaned)
    return record
