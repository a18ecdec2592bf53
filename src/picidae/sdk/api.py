"""The module-level SDK functions: ``init``, ``get_run``, ``runs``, ``set_enabled``.

Also the process hooks: at exit every run still open is finished (``completed``), or failed
with reason ``crash`` and the traceback when the interpreter is exiting on an uncaught
exception.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
import time
import traceback as tb
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any

from picidae.core.record import new_record
from picidae.core.states import TERMINAL, State
from picidae.core.times import epoch
from picidae.core.validation import (
    clean_mapping,
    clean_name,
    clean_tags,
    deep_merge,
)
from picidae.errors import InvalidInput, RunFinished, RunNotFound
from picidae.sdk import capture, start
from picidae.sdk.noop import NoopRun
from picidae.sdk.run import Run
from picidae.sdk.view import RunView
from picidae.sdk.writer import writer
from picidae.settings import settings
from picidae.store.base import RunQuery, Store
from picidae.store.capabilities import defers_new_runs
from picidae.store.registry import StoreLocation, open_store

_enabled: bool | None = None
_env_run_used = False
_hooks_lock = threading.Lock()
_hooks_installed = False
_uncaught: tuple[type[BaseException], BaseException, TracebackType | None] | None = None


def set_enabled(enabled: bool) -> None:
    """Turn recording on or off for this process; off, ``init`` returns a no-op run."""
    global _enabled
    _enabled = bool(enabled)


def is_enabled() -> bool:
    """Whether ``init`` records (``set_enabled``, else ``PICIDAE_DISABLED`` unset)."""
    return settings().enabled if _enabled is None else _enabled


def _parent_id(parent: Any) -> str | None:
    if parent is None:
        return None
    if isinstance(parent, Run | RunView):
        return parent.id
    if isinstance(parent, str) and parent:
        return parent
    raise InvalidInput(f"parent must be a run or a run id, got {type(parent).__name__}",
                       field="parent")


def create_run(store: Store, name: str | None, *, alias: str | None = None, parent: Any = None,
               kind: str | None = None, config: Mapping[str, Any] | None = None,
               tags: Iterable[str] | None = None, agent: str | None = None,
               benchmark: str | None = None, seed: int | None = None,
               trigger: str | None = None, evaluation: Any = None, compute: Any = None,
               resources: Any = None, primary_metric: str | tuple[str, str] | None = None,
               capture_env: bool = True, snapshot_code: bool = False,
               capture_console: bool = False, extras: start.Extras | None = None,
               **capture_options: Any) -> Run:
    """Create a new run in ``store``, already ``running`` (``queued → running``).
    ``extras`` (from ``start.prepare``) carries the capture, input and console options;
    without it they are checked here (``capture_options``: ``inputs``, ``capture_git``,
    ``tqdm_mode``... as ``init`` takes them, e.g. from ``Run.child``)."""
    if extras is None:
        extras = start.prepare(capture_env=capture_env, snapshot_code=snapshot_code,
                               capture_console=capture_console, **capture_options)
    parent_id = _parent_id(parent)
    parent_rec = store.get_run(parent_id) if parent_id is not None else None
    record = new_record(
        name, parent=parent_rec, alias=alias, kind=kind, config=config, tags=tags,
        agent=agent, benchmark=benchmark, seed=seed, trigger=trigger, evaluation=evaluation,
        compute=compute, resources=resources, primary_metric=primary_metric,
        command=capture.command() if capture_env else None,
        env=capture.environment() if capture_env else None,
    )
    start.fill_record(record, extras)
    _install_hooks()
    # A new run's rows may wait a moment to be written with its end (a short run: one
    # commit from start to end) where the store can do so.
    create = store.create_run
    if settings().new_run_delay_s > 0 and defers_new_runs(store):
        create = store.create_run_later
    run = Run(store, create(record), fresh=True)
    start.begin(run, extras)
    return run


def _find_run(store: Store, run_id: str) -> dict[str, Any]:
    """``store.get_run(run_id)``, looked for again for a moment when it is not there: a run
    another program just made may wait up to ``PICIDAE_NEW_RUN_DELAY_S`` in that program
    before it is written (``store/sql/deferred.py``), and its id may reach us sooner."""
    deadline = time.monotonic() + max(1.0, 4 * settings().new_run_delay_s)
    while True:
        try:
            return store.get_run(run_id)
        except RunNotFound:
            if time.monotonic() >= deadline:
                raise
        time.sleep(0.05)


def attach_run(store: Store, run_id: str, *, config: Mapping[str, Any] | None = None,
               tags: Iterable[str] | None = None, name: str | None = None,
               extras: start.Extras | None = None) -> Run:
    """Attach to an existing, unfinished run (queued for this process, or resumed)."""
    rec = _find_run(store, run_id)
    status = State(rec["status"])
    if status in TERMINAL or status is State.ARCHIVED:
        raise RunFinished(f"run {run_id} is {status.value}; it cannot be attached to. Start a "
                          f"new run, or 'picidae replay {run_id}' to run it again")
    if status is State.LOST:
        store.heartbeat(run_id)
        rec = store.get_run(run_id)
    elif status not in (State.RUNNING, State.EVALUATING):
        rec = store.transition(run_id, State.RUNNING.value, reason="attached", actor="sdk")
    run = Run(store, rec)
    # Defaults from the program yield to what the run was queued with (submit/replay
    # overrides), so the program sees the overrides in run.config.
    merged = deep_merge(clean_mapping(config, "config"), rec.get("config") or {})
    if merged != (rec.get("config") or {}):
        run._config = merged
        run._merge("config", merged)
    extra_tags = [t for t in clean_tags(tags) if t not in rec.get("tags", [])]
    if extra_tags:
        run._pending.fields["tags"] = [*rec.get("tags", []), *extra_tags]
    if name is not None and rec["name"] == "default":
        run.name = clean_name(name)
        run._pending.fields["name"] = run.name
    _install_hooks()
    if extras is not None:
        start.attach(run, extras)
    return run


def init(name: str | None = None, *, alias: str | None = None, parent: Any = None,
         kind: str | None = None, config: Mapping[str, Any] | None = None,
         tags: Iterable[str] | None = None, store: StoreLocation = None, id: str | None = None,
         capture_env: bool = True, snapshot_code: bool = False, capture_console: bool = False,
         agent: str | None = None, benchmark: str | None = None, seed: int | None = None,
         trigger: str | None = None, evaluation: Any = None, compute: Any = None,
         resources: Any = None, primary_metric: str | tuple[str, str] | None = None,
         inputs: Iterable[Any] | None = None, capture_git: bool | None = None,
         capture_packages: bool | None = None, tqdm_mode: str | None = None,
         snapshot_max_mb: float | None = None, snapshot_max_files: int | None = None,
         system_metrics: bool | None = None, ranks: str = "zero",
         job: str | None = None,
         workspace_root: str | os.PathLike[str] | None = None) -> Run | NoopRun:
    """Start recording a run, or attach to the unfinished run ``id`` (or ``PICIDAE_RUN_ID``,
    once per process). Returns a ``Run``; a ``NoopRun`` when recording is disabled.

    Reproducibility (see docs/artifacts.md): ``capture_env`` records the command, environment
    and installed packages; ``capture_git`` the git state and diff; ``snapshot_code`` archives
    the workspace (limits ``snapshot_max_mb``/``snapshot_max_files``; ``workspace_root``
    where it starts, default the current folder); ``capture_console``
    records stdout and stderr (``tqdm_mode`` smart/all/none); ``inputs`` are recorded as by
    ``run.use_input`` (paths, or dicts with ``name``, ``version``, ``path_or_uri``).
    ``system_metrics`` samples this process's CPU, memory, I/O and GPUs as ``system/*``
    metrics every ``PICIDAE_SYSTEM_INTERVAL_S`` seconds (default on; ``PICIDAE_SYSTEM_METRICS=0``
    turns the default off; see ``sdk/system.py``).

    Distributed jobs (``sdk/ranks.py``): ``ranks="zero"`` records on rank 0 only (other ranks
    get a ``NoopRun``; ``run.rank`` says which); ``ranks="all"`` gives every rank a child of
    kind ``rank`` under one run of the job, found through ``job`` or the launcher's key."""
    global _env_run_used
    from picidae.sdk import ranks as ranking

    mode = ranking.check_mode(ranks)
    if not is_enabled():
        return NoopRun(config, name, kind=kind)
    where = ranking.launch(job)
    if mode == "zero" and where.rank != 0:
        noop = NoopRun(config, name, kind=kind)
        noop.rank = where.rank
        return noop
    extras = start.prepare(capture_env=capture_env, capture_git=capture_git,
                           capture_packages=capture_packages, snapshot_code=snapshot_code,
                           capture_console=capture_console, tqdm_mode=tqdm_mode,
                           inputs=inputs, snapshot_max_mb=snapshot_max_mb,
                           snapshot_max_files=snapshot_max_files,
                           system_metrics=system_metrics, workspace_root=workspace_root)
    target = open_store(store)
    if id is None and not _env_run_used:
        id = settings().run_id
        _env_run_used = id is not None
    if id is not None:
        if not isinstance(id, str):
            raise InvalidInput(f"id must be a run id string, got {type(id).__name__}",
                               field="id")
        if mode == "all":  # the queued run is the job's run: each rank records under it
            return ranking.join_run(target, where, id, create_run,
                                    {"config": config, "extras": extras})
        return attach_run(target, id, config=config, tags=tags, name=name, extras=extras)
    if mode == "all":
        job_run = {"alias": alias, "parent": parent, "kind": kind, "config": config,
                   "tags": tags, "agent": agent, "benchmark": benchmark, "seed": seed,
                   "trigger": trigger, "evaluation": evaluation, "compute": compute,
                   "resources": resources, "primary_metric": primary_metric,
                   "extras": start.prepare(capture_env=capture_env, capture_git=False,
                                           capture_packages=False)}
        return ranking.start_rank_run(target, where, name, create_run, job_run,
                                      {"config": config, "extras": extras})
    return create_run(target, name, alias=alias, parent=parent, kind=kind, config=config,
                      tags=tags, agent=agent, benchmark=benchmark, seed=seed, trigger=trigger,
                      evaluation=evaluation, compute=compute, resources=resources,
                      primary_metric=primary_metric, capture_env=capture_env, extras=extras)


def get_run(run_id: str, store: StoreLocation = None) -> RunView:
    """The stored run ``run_id`` (what this process logged to it so far included)."""
    target = open_store(store)
    active = writer().active(run_id) if isinstance(run_id, str) else None
    if active is not None and active.store is target:
        active.flush()
    return RunView(target, target.get_run(run_id))


def runs(store: StoreLocation = None, *, status: str | Iterable[str] | None = None,
         name: str | None = None, parent: Any = None, kind: str | None = None,
         tags: str | Iterable[str] | None = None, created_after: Any = None,
         created_before: Any = None, where: str | None = None,
         order_by: str | list[str] | None = None, limit: int | None = None,
         include_archived: bool = False) -> list[RunView]:
    """Runs matching every filter given, newest first unless ``order_by`` says otherwise.

    ``status`` takes a state or a list; ``name`` a glob (``cv/*``); ``tags`` runs carrying all
    of them; ``order_by`` ``"metrics.acc desc"``, ``"summary.K"``, ``"config.K"``,
    ``"created_at"``, ``"name"``... Archived runs are left out unless ``include_archived``
    (or a ``status`` filter names them).
    """
    from picidae.core.lifecycle import parse_state
    from picidae.core.order import parse_order_by

    target = open_store(store)
    for run in writer().runs():
        if run.store is target:
            run.flush()
    statuses = None
    if status is not None:
        items = [status] if isinstance(status, str) else list(status)
        statuses = [parse_state(s).value for s in items]
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int)
                              or limit < 0):
        raise InvalidInput(f"limit must be a non-negative int, got {limit!r}", field="limit")
    query = RunQuery(
        status=statuses, name=name, parent=_parent_id(parent), kind=kind,
        tags=clean_tags(tags) or None, created_after=epoch(created_after, "created_after"),
        created_before=epoch(created_before, "created_before"), where=where,
        order_by=parse_order_by(order_by), limit=limit, include_archived=include_archived,
    )
    return [RunView(target, rec) for rec in target.list_runs(query)]


# -- process hooks ----------------------------------------------------------------------

def _excepthook(exc_type: type[BaseException], exc: BaseException,
                trace: TracebackType | None) -> None:
    global _uncaught
    _uncaught = (exc_type, exc, trace)
    _previous_excepthook(exc_type, exc, trace)


_previous_excepthook = sys.excepthook


def _at_exit() -> None:
    for run in writer().runs():
        try:
            if _uncaught is None:
                run.finish()
            elif issubclass(_uncaught[0], KeyboardInterrupt):
                run.cancel(reason="interrupted")
            else:
                exc_type, exc, trace = _uncaught
                run.fail("crash", message=f"{exc_type.__name__}: {exc}",
                         traceback="".join(tb.format_exception(exc_type, exc, trace)))
        except Exception as exc:  # at exit there is nobody left to raise to
            print(f"picidae: could not end run {run.id} at exit: {exc}", file=sys.stderr)


def _install_hooks() -> None:
    global _hooks_installed, _previous_excepthook
    with _hooks_lock:
        if _hooks_installed:
            return
        _previous_excepthook = sys.excepthook
        sys.excepthook = _excepthook
        atexit.register(_at_exit)
        _hooks_installed = True
