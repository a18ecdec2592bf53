"""Editing a run after the fact: what an edit may change, checked once for every door (the
SDK, ``PATCH /api/v1/runs/{id}``, the CLI, the MCP server), and how it applies.

An edit annotates; it never rewrites results, so it is allowed in every state (an ended or
archived run too). It may set the ``alias`` (``""`` clears it), add and remove ``tags`` and
replace the ``notes`` (free text, last write wins; ``""`` clears them). Each applied edit is
kept in the run's ``edits`` as ``{at, actor, changes}``.

Restoring an archived run returns it to the terminal state it was archived from: the ``from``
of its last move to ``archived``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from picidae.core.states import TERMINAL, State
from picidae.core.validation import clean_label, clean_tags
from picidae.errors import IllegalTransition, InvalidInput

#: What an edit may carry.
EDIT_KEYS = ("alias", "add_tags", "remove_tags", "notes")
#: The longest notes accepted, in characters.
MAX_NOTES = 100_000
#: At most this many edits are kept per run (the oldest are dropped).
MAX_EDITS = 1000


def clean_notes(value: object) -> str | None:
    """Notes: free text (Markdown) up to ``MAX_NOTES`` characters; ``""`` means none."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"notes must be a string, got {type(value).__name__}",
                           field="notes")
    if len(value) > MAX_NOTES:
        raise InvalidInput(f"notes are {len(value)} characters; at most {MAX_NOTES}",
                           field="notes")
    return value.replace("\x00", "\ufffd")


def _tag_list(value: object, field: str) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple | set | frozenset):
        raise InvalidInput(f"{field} must be a list of tags, got {type(value).__name__}",
                           field=field)
    try:
        return clean_tags(sorted(value) if isinstance(value, set | frozenset) else value)
    except InvalidInput as exc:
        raise InvalidInput(str(exc).replace("tags", field, 1), field=field) from None


def clean_edit(changes: Mapping[str, Any]) -> dict[str, Any]:
    """The changes of one edit, checked: only ``EDIT_KEYS``; ``None`` values mean "leave as
    it is" and are dropped. ``InvalidInput`` names the bad field, or says there is nothing to
    change."""
    if not isinstance(changes, Mapping):
        raise InvalidInput("an edit is an object of alias, add_tags, remove_tags, notes",
                           field="body")
    out: dict[str, Any] = {}
    for key, value in changes.items():
        if key not in EDIT_KEYS:
            raise InvalidInput(f"{key!r} cannot be edited; an edit may change "
                               f"{', '.join(EDIT_KEYS)}", field=str(key))
        if value is None:
            continue
        if key == "alias":
            out[key] = clean_label(value, "alias") or ""
        elif key == "notes":
            out[key] = clean_notes(value)
        else:
            tags = _tag_list(value, key)
            if tags:
                out[key] = tags
    if not out:
        raise InvalidInput("nothing to change: give alias, add_tags, remove_tags or notes",
                           field="body")
    both = set(out.get("add_tags", ())) & set(out.get("remove_tags", ()))
    if both:
        raise InvalidInput(f"tag {sorted(both)[0]!r} is both added and removed",
                           field="remove_tags")
    return out


def apply_edit(record: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """The fields an edit (already cleaned) sets on ``record``: ``alias`` (``None`` when
    cleared), ``tags`` (order kept, new ones appended) and ``notes``. Only fields it names."""
    out: dict[str, Any] = {}
    if "alias" in changes:
        out["alias"] = changes["alias"] or None
    if "add_tags" in changes or "remove_tags" in changes:
        drop = set(changes.get("remove_tags", ()))
        tags = [t for t in (record.get("tags") or []) if t not in drop]
        tags += [t for t in changes.get("add_tags", ()) if t not in tags]
        out["tags"] = tags
    if "notes" in changes:
        out["notes"] = changes["notes"] or None
    return out


def add_edit(edits: list[dict[str, Any]] | None, entry: dict[str, Any]) -> list[dict[str, Any]]:
    """``edits`` with ``entry`` appended, keeping the newest ``MAX_EDITS``."""
    return [*(edits or []), entry][-MAX_EDITS:]


def restore_target(run_id: str, status: str, transitions: list[dict[str, Any]]) -> State:
    """The terminal state an archived run returns to: where its last move to ``archived``
    came from. ``IllegalTransition`` for a run that is not archived."""
    if status != State.ARCHIVED.value:
        err = IllegalTransition(run_id, status, "restore", [])
        err.message = (f"run {run_id} is {status!r}, not archived: only an archived run can "
                       "be restored")
        err.args = (err.message,)
        raise err
    for move in reversed(transitions):
        if move.get("to") == State.ARCHIVED.value and move.get("from"):
            state = State(move["from"])
            if state in TERMINAL:
                return state
    return State.COMPLETED  # archived without a recorded move (an old import): call it done
