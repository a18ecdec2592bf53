"""``picidae.edit`` and ``picidae.restore``: annotating and un-archiving a stored run.

Both work in any state an edit makes sense in: an edit (alias, tags, notes) on a queued,
running, ended or archived run alike; a restore on an archived run only. Each is recorded:
an edit in the run's ``edits`` (``at``, ``actor``, ``changes``) and a ``run.edited`` event, a
restore as a transition. See ``core/edits.py`` for what an edit may change.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from picidae.errors import InvalidInput
from picidae.sdk.view import RunView
from picidae.store.registry import StoreLocation, open_store


def run_id_of(run: Any) -> str:
    """The id of a run given as an id, a ``Run`` or a ``RunView``."""
    value = getattr(run, "id", run) if not isinstance(run, str) else run
    if not isinstance(value, str) or not value:
        raise InvalidInput(f"run must be a run id, a Run or a RunView, got {run!r}",
                           field="run_id")
    return value


def edit(run_id: Any, *, alias: str | None = None, add_tags: str | Iterable[str] | None = None,
         remove_tags: str | Iterable[str] | None = None, notes: str | None = None,
         store: StoreLocation = None, actor: str = "user") -> RunView:
    """Edit a run after the fact: set its ``alias`` (``""`` clears it), add and remove tags,
    replace its ``notes`` (``""`` clears them). Arguments left ``None`` stay as they are.
    Allowed in every state; recorded in the run's ``edits``. Returns the edited run.
    ``InvalidInput`` when nothing is asked or a value is bad; ``RunNotFound``."""
    target = open_store(store)
    changes = {"alias": alias, "notes": notes,
               "add_tags": _listed(add_tags), "remove_tags": _listed(remove_tags)}
    return RunView(target, target.edit_run(run_id_of(run_id), changes, actor=actor))


def restore(run_id: Any, *, store: StoreLocation = None, actor: str = "user") -> RunView:
    """Return an archived run to the terminal state it was archived from (``completed``,
    ``failed`` or ``canceled``); ``IllegalTransition`` for a run that is not archived."""
    target = open_store(store)
    return RunView(target, target.restore_run(run_id_of(run_id), actor=actor))


def _listed(tags: str | Iterable[str] | None) -> Any:
    if tags is None or isinstance(tags, str):
        return tags
    return list(tags) if not isinstance(tags, dict) else tags
