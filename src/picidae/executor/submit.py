"""``picidae.submit`` and ``picidae submit``: commands handed to Picidae as queued runs.

The spec is planned by ``core.submission`` (so flows and the webhook make the same records);
this module adds what needs the machine and the store: local inputs' digests, the code
snapshot (``snapshot_code=True``), and storing the parent before its children (an HTTP store
gives the parent its id).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from picidae.core.submission import Spec, plan, plan_children
from picidae.errors import InvalidInput
from picidae.sdk.view import RunView
from picidae.settings import settings
from picidae.store.base import Store
from picidae.store.registry import StoreLocation, open_store


def _parent_id(parent: Any) -> str | None:
    if parent is None:
        return None
    run_id = getattr(parent, "id", parent)
    if not isinstance(run_id, str) or not run_id:
        raise InvalidInput(f"parent must be a run or a run id, got {parent!r}", field="parent")
    return run_id


def local_input_path(uri: str) -> Path | None:
    """The local path an input's ``uri`` names (a path or ``file://``), else ``None``."""
    if uri.lower().startswith("file://"):
        from urllib.parse import unquote, urlparse

        return Path(unquote(urlparse(uri).path))
    if "://" in uri:
        return None
    return Path(uri).expanduser()


def pin_inputs(spec: Spec) -> None:
    """Give every local input an absolute ``file://`` URI and its digest (computed now), so a
    worker can verify it is syncing the same data."""
    from picidae.artifacts.base import path_digest

    for item in spec.inputs:
        path = local_input_path(item["uri"]) if item["uri"] else None
        if path is None:
            continue
        if not path.exists():
            raise InvalidInput(f"input {item['name']!r}: {path} does not exist", field="inputs")
        path = path.resolve()
        item["uri"] = path.as_uri()
        if item["digest"] is None:
            item["digest"] = path_digest(path)


def snapshot_workspace(store: Store, cwd: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """Archive the workspace ``cwd`` is in into the artifact store: the ``code.snapshot``
    entry for the runs, and the artifact record to add to each."""
    from picidae.artifacts.registry import for_store
    from picidae.sdk import capture

    cfg = settings()
    ws = capture.list_workspace(cwd)
    capture.check_snapshot_limits(ws, cfg.snapshot_max_mb, cfg.snapshot_max_files)
    path = capture.snapshot_file(ws)
    try:
        astore = for_store(store)
        blob = astore.put(path)
    finally:
        path.unlink(missing_ok=True)
    entry = {"artifact": capture.SNAPSHOT_ARTIFACT, "digest": blob.digest, "size": blob.size,
             "files": len(ws.files), "source_bytes": ws.total_bytes,
             "listed_by": ws.listed_by, "root": str(ws.root)}
    artifact = {"name": capture.SNAPSHOT_ARTIFACT, "type": "code", "kind": "file",
                "digest": blob.digest, "size": blob.size, "step": None, "caption": None,
                "created_at": time.time(), "location": astore.location,
                "metadata": {"files": len(ws.files), "root": str(ws.root),
                             "listed_by": ws.listed_by}}
    return entry, artifact


def store_spec(store: Store, spec: Spec, *, name: str | None = None, parent: str | None = None,
               trigger: str | None = None, kind: str | None = None,
               flow: tuple[str, int] | None = None, actor: str = "submit",
               engine: dict[str, Any] | None = None,
               ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Create the queued runs of ``spec``: the top record, then its children (if any).
    ``engine`` (the executor's options) goes into each one's ``execution.engine``."""
    parent_rec = store.get_run(parent) if parent is not None else None
    first = plan(spec, name=name, parent=parent_rec, trigger=trigger, kind=kind, flow=flow,
                 actor=actor)
    if engine:
        first["execution"]["engine"] = engine
    top = store.create_run(first)
    kids = plan_children(spec, top, actor=actor)
    for rec in kids:
        if engine:
            rec["execution"]["engine"] = engine
    children = [store.create_run(rec) for rec in kids]
    return top, children


def submit(command: str | Iterable[str], *, name: str | None = None, parent: Any = None,
           config: Mapping[str, Any] | None = None, seeds: Any = None, grid: Any = None,
           set: Iterable[str] | None = None, cpus: float | None = None,
           gpus: int | None = None, memory: str | float | None = None,
           timeout: str | float | None = None, eval: str | Iterable[str] | None = None,
           inputs: Iterable[Any] | None = None, queue: str | None = None, retries: int = 0,
           allow_failures: bool = False, tags: Iterable[str] | None = None,
           kind: str | None = None, trigger: str | None = None, snapshot_code: bool = False,
           cwd: str | os.PathLike[str] | None = None, store: StoreLocation = None,
           executor: str | None = None, partition: str | None = None,
           account: str | None = None, slurm_args: Iterable[str] | None = None,
           ray_address: str | None = None) -> RunView:
    """Queue ``command`` (an argv list, or a string split like a shell would) for a worker
    (``picidae worker``). Returns the run — or, with ``seeds`` (``"42-46"``, ``[1, 2]``) or
    ``grid`` (``{"lr": [0.1, 0.01]}``), the parent whose children are one run per seed and
    grid point (the cartesian product), kind ``seed`` or ``sweep-point``.

    ``config`` (and ``set``, ``KEY=VALUE`` words) reach the command's ``run.config``; a
    child's seed arrives as ``config.seed`` and ``PICIDAE_SEED``, grid values as config keys.
    ``cpus``, ``gpus`` and ``memory`` (``"4G"``) are the resource request, ``timeout``
    (``"2h"``) fails the run with reason ``timeout``, ``eval`` runs after the command (its
    metrics land on the same run), ``inputs`` (``"name=path_or_uri"`` or dicts) are synced
    and verified by digest before it runs, ``retries`` re-runs a crash (non-zero exit) up to
    that many times, ``allow_failures`` lets a parent complete although children failed,
    ``snapshot_code`` archives the workspace so workers run exactly this code. The command
    runs in ``cwd`` (default: this folder) on the worker's machine, unless the code snapshot
    is restored. ``executor`` (``local``, ``slurm``, ``ray``) says who runs it: ``slurm``
    submits an ``sbatch`` job per run at once (``partition``, ``account`` and ``slurm_args``
    pass through), ``ray`` a Ray job per run (``ray_address``, default ``RAY_ADDRESS``). See
    docs/running.md."""
    from picidae.executor.engines import resolve
    engine, options = resolve(executor, partition=partition, account=account,
                              slurm_args=slurm_args, ray_address=ray_address)
    if options is not None:
        queue = engine.queue
    target = open_store(store)
    where = Path(cwd).resolve() if cwd is not None else Path.cwd()
    spec = Spec.build(command, config=config, set=set, seeds=seeds, grid=grid, cpus=cpus,
                      gpus=gpus, memory=memory, inputs=inputs, eval=eval, timeout=timeout,
                      retries=retries, allow_failures=allow_failures, queue=queue, tags=tags,
                      cwd=str(where))
    pin_inputs(spec)
    artifact = None
    if snapshot_code:
        entry, artifact = snapshot_workspace(target, where)
        spec.code = {"snapshot": entry}
    top, children = store_spec(target, spec, name=name, parent=_parent_id(parent),
                               trigger=trigger, kind=kind, engine=options)
    if artifact is not None:
        for rec in [top, *children]:
            target.add_artifact(rec["id"], artifact)
    engine.dispatch(target, actor="submit")
    return RunView(target, target.get_run(top["id"]))

