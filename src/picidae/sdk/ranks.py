"""Distributed jobs: which rank this process is, and the runs of ``init(ranks=...)``.

``ranks="zero"`` (the default): rank 0 records, other ranks get a ``NoopRun`` (``run.rank``
says which rank). ``ranks="all"``: rank 0 creates the job's run and every rank, rank 0 too,
records into a child of kind ``rank`` named ``…/rank-N``; the other ranks find the job's run
through the job's shared key (``job=``, else ``TORCHELASTIC_RUN_ID`` unless torchrun's default
``none``, else ``SLURM_JOB_ID``, else ``MASTER_ADDR:MASTER_PORT``), kept on it as the tag
``job:KEY``. The job's run is no rank's own: no exit hook ends it. It ends when its rank
children have: ``completed`` when all ``world_size`` of them completed, ``failed`` (naming the
rank) as soon as one failed, ``canceled`` when all ended and one was canceled. Every rank's
heartbeat is also the job run's, so it is lost only when every rank went silent.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from picidae.core.states import TERMINAL, State
from picidae.errors import InvalidInput, PicidaeError
from picidae.settings import on_environ
from picidae.store.base import RunQuery

if TYPE_CHECKING:
    from picidae.sdk.run import Run

log = logging.getLogger("picidae")

_RANK = ("RANK", "SLURM_PROCID", "OMPI_COMM_WORLD_RANK", "LOCAL_RANK")
_SIZE = ("WORLD_SIZE", "SLURM_NTASKS", "OMPI_COMM_WORLD_SIZE", "LOCAL_WORLD_SIZE")
MODES = ("zero", "all")
WAIT_S = 120.0  # how long a rank waits for rank 0 to create the job's run
_world: dict[str, int] = {}  # rank child id → the world size its launcher gave


def _int_env(names: tuple[str, ...]) -> int | None:
    for name in names:
        raw = os.environ.get(name, "").strip()
        if raw:
            try:
                return int(raw)
            except ValueError:
                continue
    return None


@dataclass(frozen=True)
class Launch:
    """What the launcher says about this process: its rank, the world size, the job key."""

    rank: int
    world_size: int
    job: str | None


def launch(job: str | None = None) -> Launch:
    """This process's rank and world size from the launcher's variables, and the job key
    (``job`` when given). The variables are read again only when the environment changed
    (``settings.on_environ``): reading them costs more than the rest of ``init``'s checks."""
    found = _launch_now()
    return found if job is None else Launch(found.rank, found.world_size, job)


def _read_launch() -> Launch:
    job: str | None = None
    rank = _int_env(_RANK) or 0
    size = _int_env(_SIZE) or 1
    elastic = os.environ.get("TORCHELASTIC_RUN_ID", "").strip()
    slurm = os.environ.get("SLURM_JOB_ID", "").strip()
    addr, port = os.environ.get("MASTER_ADDR", ""), os.environ.get("MASTER_PORT", "")
    if elastic and elastic != "none":
        job = elastic
    elif slurm:
        job = slurm
    elif addr and port:
        job = f"{addr}:{port}"
    return Launch(rank, max(size, rank + 1), job)


_launch_now = on_environ(_read_launch)


def check_mode(ranks: object) -> str:
    """``ranks=`` checked: ``"zero"`` or ``"all"``."""
    if ranks not in MODES:
        raise InvalidInput(f"ranks must be 'zero' or 'all', got {ranks!r}", field="ranks")
    return str(ranks)


def _tag(job: str) -> str:
    return f"job:{job}"[:200]


def _find_job_run(store: Any, job: str, wait_s: float) -> dict[str, Any]:
    deadline = time.monotonic() + wait_s
    query = RunQuery(tags=[_tag(job)], status=[State.RUNNING.value], limit=1,
                     order_by=[("created_at", True)])
    while True:
        found = store.list_runs(query)
        if found:
            return dict(found[0])
        if time.monotonic() >= deadline:
            raise InvalidInput(f"no run of job {job!r} appeared in {wait_s:g} s: rank 0 "
                               "creates it with init(ranks='all'); is rank 0 running with the "
                               "same store and job key?", field="ranks")
        time.sleep(0.2)


def start_rank_run(store: Any, info: Launch, name: str | None, create: Any,
                   parent_kwargs: dict[str, Any], child_kwargs: dict[str, Any],
                   wait_s: float = WAIT_S) -> Run:
    """This process's rank child under the job's run, which rank 0 creates (with
    ``parent_kwargs``; the child gets ``child_kwargs``). ``create`` is ``api.create_run``."""
    from picidae.sdk.writer import writer

    if info.job is None and info.world_size > 1:
        raise InvalidInput("ranks='all' needs the job's shared key: pass job=..., or launch "
                           "with torchrun, srun, or MASTER_ADDR and MASTER_PORT set",
                           field="job")
    job = info.job or f"single-{os.getpid()}"
    if info.rank == 0:
        kwargs = dict(parent_kwargs)
        kwargs["tags"] = [*(kwargs.get("tags") or []), _tag(job)]
        compute = kwargs.get("compute")
        compute = dict(compute) if isinstance(compute, dict) else (
            {"target": compute} if compute is not None else {})
        compute.update({"job": job, "world_size": info.world_size})
        kwargs["compute"] = compute
        parent = create(store, name, **kwargs)
        parent.flush()
        writer().unregister(parent)  # no exit hook may end it: its ranks do
        parent_id, parent_name = parent.id, parent.name
    else:
        record = _find_job_run(store, job, wait_s)
        parent_id, parent_name = record["id"], record["name"]
    run: Run = create(store, f"{parent_name}/rank-{info.rank}", parent=parent_id, kind="rank",
                      trigger="child", **child_kwargs)
    run.rank = info.rank
    run._rank_parent = parent_id
    _world[run.id] = info.world_size
    return run


def join_run(store: Any, info: Launch, run_id: str, create: Any,
             child_kwargs: dict[str, Any]) -> Run:
    """``ranks="all"`` with a run to attach to (``id=``, ``PICIDAE_RUN_ID``): that run is the
    job's run, and this rank records into its child ``…/rank-N`` under it. Under a worker the
    worker ends the job's run (from the launcher's exit code); otherwise its ranks settle it."""
    from picidae.settings import settings

    record = store.get_run(run_id)
    if State(record["status"]) in TERMINAL or record["status"] == State.ARCHIVED.value:
        from picidae.errors import RunFinished

        raise RunFinished(f"run {run_id} is {record['status']}; its ranks cannot record into "
                          "it")
    if record["status"] == State.QUEUED.value and info.rank == 0:
        store.transition(run_id, State.RUNNING.value, reason="attached", actor="sdk")
    run: Run = create(store, f"{record['name']}/rank-{info.rank}", parent=run_id, kind="rank",
                      trigger="child", **child_kwargs)
    run.rank = info.rank
    if settings().managed is None:
        run._rank_parent = run_id
        _world[run.id] = info.world_size
    return run


def heartbeat_parent(run: Run, now: float) -> None:
    """Beat for the job's run too (a job's run that ended already is left alone)."""
    if run._rank_parent is None:
        return
    try:
        run.store.heartbeat(run._rank_parent, now)
    except PicidaeError:
        pass


def settle(run: Run) -> None:
    """After a rank child ended: end the job's run if its ranks say so (see the module
    docstring). Never raises: the rank's own end already happened."""
    parent_id = run._rank_parent
    if parent_id is None:
        return
    store = run.store
    try:
        parent = store.get_run(parent_id)
        if State(parent["status"]) in TERMINAL:
            return
        compute = parent.get("compute")
        world = max(_world.get(run.id, 0), int(
            compute.get("world_size") or 0) if isinstance(compute, dict) else 0)
        kids = store.list_runs(RunQuery(parent=parent_id, kind="rank"))
        failed = [k for k in kids if k["status"] == State.FAILED.value]
        if failed:
            first = min(failed, key=lambda k: k.get("ended_at") or 0)
            rank = first["name"].rsplit("rank-", 1)[-1]
            why = (first.get("failure") or {}).get("message") or "failed"
            store.transition(parent_id, State.FAILED.value, reason="crash", actor="sdk",
                             failure={"reason": "crash", "message": f"rank {rank} failed: {why}"})
            return
        ended = [k for k in kids if State(k["status"]) in TERMINAL]
        if len(ended) < max(world, 1) or len(ended) < len(kids):
            return
        canceled = any(k["status"] == State.CANCELED.value for k in ended)
        target = State.CANCELED if canceled else State.COMPLETED
        store.transition(parent_id, target.value,
                         reason="ranks canceled" if canceled else None, actor="sdk")
    except PicidaeError as exc:  # another rank settled it meanwhile, or the store is away
        log.debug("picidae: settling job run %s: %s", parent_id, exc)
