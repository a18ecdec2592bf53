"""What every engine's executor shares: claiming the runs waiting for it, recording its job,
finding the runs it holds, and moving them conditionally."""

from __future__ import annotations

import contextlib
import time
import uuid
from typing import TYPE_CHECKING, Any

from picidae.core.run import LogLine
from picidae.core.states import State
from picidae.errors import IllegalTransition, PicidaeError, RunFinished
from picidae.store.base import Batch, RunQuery, Store

if TYPE_CHECKING:
    from picidae.executor.engines.base import Executor

#: The states of a run an engine holds (lost: the engine may still report on it).
OPEN = [State.PROVISIONING.value, State.SYNCING_DATA.value, State.RUNNING.value,
        State.EVALUATING.value, State.LOST.value]


def dispatch(engine: Executor, store: Store, actor: str) -> list[str]:
    """Claim the runs waiting in ``engine.queue`` and submit each; a run the engine refuses
    fails with its message. Returns the ids taken."""
    done: list[str] = []
    while True:
        claimed = store.claim(actor, queue=engine.queue, limit=100)
        if not claimed:
            return done
        for record in claimed:
            try:
                engine.submit(store, record)
            except PicidaeError as exc:
                move(store, record["id"], State.FAILED, f"{engine.name} refused the job: "
                     f"{exc}", actor, failure={"reason": "error", "message": str(exc)})
            done.append(record["id"])


def record_job(store: Store, record: dict[str, Any], executor: str, job: str,
               note: str) -> None:
    """Record the engine's job in the run's ``compute`` (``executor``, ``job_id``)."""
    compute = {**(record.get("compute") or {}), "executor": executor, "job_id": job}
    store.write(record["id"], Batch(fields={"compute": compute}, batch_id=uuid.uuid4().hex,
                                    logs=[LogLine(time.time(), "worker", note)]))


def held_runs(store: Store, executor: str) -> list[dict[str, Any]]:
    """The open (or lost) runs an engine holds: with ``compute.executor`` and ``job_id``."""
    return [rec for rec in store.list_runs(RunQuery(status=OPEN))
            if (rec.get("compute") or {}).get("executor") == executor
            and (rec.get("compute") or {}).get("job_id")]


def move(store: Store, run_id: str, to: State, reason: str, actor: str,
          failure: dict[str, Any] | None = None) -> None:
    with contextlib.suppress(IllegalTransition, RunFinished):
        store.transition(run_id, to.value, reason=reason, actor=actor, failure=failure,
                         expect=set(OPEN))
