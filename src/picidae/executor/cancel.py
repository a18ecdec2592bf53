"""``picidae cancel``: stop a run, and the unfinished children of a parent.

The run moves to ``canceled`` at once, whatever it was doing. A queued run is simply never
claimed. A run a worker holds is stopped by that worker: it polls its runs' status, and on
seeing ``canceled`` sends SIGTERM to the command's process group, then SIGKILL after
``PICIDAE_CANCEL_GRACE_S`` (default 10 s), and records how the process ended in the log.
A run on an engine (``compute.executor``: ``slurm``) has its job canceled there too.
"""

from __future__ import annotations

from typing import Any

from picidae.core.states import UNFINISHED, State
from picidae.errors import IllegalTransition
from picidae.executor import parents
from picidae.sdk.view import RunView
from picidae.store.base import RunQuery, Store
from picidae.store.registry import StoreLocation, open_store

_OPEN = {s.value for s in UNFINISHED}


def cancel_tree(store: Store, run_id: str, *, reason: str, actor: str) -> list[str]:
    """Cancel ``run_id``'s unfinished descendants, then the run itself if unfinished;
    returns the ids canceled."""
    done: list[str] = []
    for kid in store.list_runs(RunQuery(parent=run_id)):
        done.extend(cancel_tree(store, kid["id"], reason=f"parent {run_id} canceled",
                                actor=actor))
    try:
        store.transition(run_id, State.CANCELED.value, reason=reason, actor=actor,
                         expect=_OPEN)
        done.append(run_id)
    except IllegalTransition:
        pass  # ended meanwhile, or already
    return done


def cancel_run(store: Store, run_id: str, *, reason: str | None = None,
               actor: str = "user") -> dict[str, Any]:
    """``cancel`` on an open store: the run's record after. A run that ended already, with
    nothing left to cancel under it, raises ``IllegalTransition``."""
    rec = store.get_run(run_id)
    done = cancel_tree(store, run_id, reason=reason or "canceled by user", actor=actor)
    if not done:
        from picidae.core.states import LEGAL

        raise IllegalTransition(run_id, rec["status"], State.CANCELED.value,
                                [s.value for s in LEGAL[State(rec["status"])]])
    from picidae.executor.engines import get_executor

    for done_id in done:  # stop the jobs on their engines (a worker stops its own)
        held = store.get_run(done_id)
        name = (held.get("compute") or {}).get("executor")
        if name and name != "local":
            get_executor(name).cancel(store, held)
    parents.settle(store, rec.get("parent_id"), actor)
    return store.get_run(run_id)


def cancel(run_id: str, *, store: StoreLocation = None, reason: str | None = None,
           actor: str = "user") -> RunView:
    """Cancel a run (and its unfinished children). A run that ended already, with nothing
    left to cancel under it, raises ``IllegalTransition``."""
    target = open_store(store)
    return RunView(target, cancel_run(target, run_id, reason=reason, actor=actor))
