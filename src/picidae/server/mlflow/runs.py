"""MLflow runs: create, get, update, delete, restore, search, log-metric, log-parameter,
log-batch, set-tag, delete-tag, log-inputs, outputs, metrics/get-history."""

from __future__ import annotations

import math
import secrets
import time
from typing import Any

from fastapi import APIRouter

from picidae.core.record import new_record
from picidae.errors import RunNotFound
from picidae.server.deps import Access
from picidae.server.mlflow import convert, search
from picidae.server.mlflow.convert import FROM_MLFLOW, INPUTS, LONG_TAGS, OUTPUTS
from picidae.server.mlflow.errors import Args, endpoint, invalid
from picidae.server.mlflow.experiments import everything, known_names, prefix, resolve
from picidae.store.base import Batch, RunQuery, SeriesChunk, Store

router = APIRouter()

MODEL_KIND = "mlflow-model"
LIVE = {"queued", "provisioning", "syncing_data", "running", "evaluating", "lost"}


def load(access: Access, run_id: str) -> dict[str, Any]:
    """The run's record; ``RESOURCE_DOES_NOT_EXIST`` when this workspace has none."""
    return access.store.get_run(run_id)


def full_view(store: Store, record: dict[str, Any]) -> dict[str, Any]:
    """MLflow's ``Run`` of a record, with each metric's last point."""
    return convert.run_view(record, convert.latest_metrics(store, record), known_names(store))


def tag_changes(record: dict[str, Any], pairs: list[tuple[str, str | None]]
                ) -> tuple[list[str], list[str], dict[str, Any]]:
    """What setting (value) or deleting (None) MLflow tags changes: Picidae tags to add and
    remove, and long tags to merge into ``outputs``."""
    current = {label.partition("=")[0]: label for label in record.get("tags") or []}
    long_now = (record.get("outputs") or {}).get(LONG_TAGS) or {}
    add: list[str] = []
    remove: list[str] = []
    long: dict[str, Any] = {}
    for key, value in pairs:
        old = current.get(key)
        fits = value is not None and convert.fits_tag(key, value)
        label = f"{key}={value}" if fits else None
        if old is not None and old != label:
            remove.append(old)
        if label is not None and old != label:
            add.append(label)
        if not fits and (value is not None or key in long_now):
            long[key] = value
        elif key in long_now:
            long[key] = None
    return add, [r for r in remove if r not in add], long


def set_tags(access: Access, record: dict[str, Any],
             pairs: list[tuple[str, str | None]]) -> None:
    """Apply MLflow tag changes to a run."""
    add, remove, long = tag_changes(record, pairs)
    if add or remove:
        access.store.edit_run(record["id"], {"add_tags": add or None,
                                             "remove_tags": remove or None},
                              actor=access.actor)
    if long:
        access.store.write(record["id"], Batch(outputs={LONG_TAGS: long}))


def _config(record: dict[str, Any], pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """New params as config, refusing to change a logged one (as MLflow does)."""
    current = convert.params(record)
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in current and current[key] != value:
            raise invalid(f"Changing param values is not allowed. Param with key='{key}' was "
                          f"already logged with value='{current[key]}' for run ID='"
                          f"{record['id']}'. Attempted logging new value '{value}'.")
        out[key] = value
    return out


def _chunks(items: list[Any]) -> list[SeriesChunk]:
    by_key: dict[str, SeriesChunk] = {}
    for i, m in enumerate(items):
        if not isinstance(m, dict) or not isinstance(m.get("key"), str) or not m["key"]:
            raise invalid(f"Invalid value for parameter 'metrics[{i}]': an object with a "
                          "'key'.")
        args = Args(m)
        value = m.get("value")
        number = math.nan if value in ("NaN", "nan") else args.number("value", required=True)
        step = int(args.number("step", integer=True) or 0)
        stamp = args.seconds("timestamp")
        if not -(1 << 63) <= step < 1 << 63:
            raise invalid(f"Invalid value {step} for parameter 'metrics[{i}].step': a 64-bit "
                          "integer.")
        chunk = by_key.setdefault(m["key"], SeriesChunk(m["key"], None))
        chunk.steps.append(step)
        chunk.values.append(float(number if number is not None else math.nan))
        chunk.times.append(stamp if stamp is not None else time.time())
    return list(by_key.values())


def log(access: Access, run_id: str, *, metrics: list[Any] | None = None,
        params: list[tuple[str, str]] | None = None,
        tags: list[tuple[str, str | None]] | None = None) -> None:
    """Write metrics, params and tags to a run."""
    record = load(access, run_id)
    batch = Batch(chunks=_chunks(metrics or []),
                  config=_config(record, params or []))
    if not batch.empty():
        access.store.write(run_id, batch)
    if tags:
        set_tags(access, record, tags)


@endpoint(router, "/runs/create", ["POST"])
def create(access: Access, args: Args) -> dict[str, Any]:
    """Start a run in an experiment: named ``EXPERIMENT/RUN_NAME``, a child of the run
    ``mlflow.parentRunId`` names."""
    exp_id = args.text("experiment_id", required=False, default=convert.DEFAULT_ID) or "0"
    experiment = resolve(access.store, exp_id)
    if experiment.get("lifecycle_stage") == "deleted":
        raise invalid(f"The experiment {exp_id} must be in the 'active' state.")
    tags = dict(args.pairs("tags"))
    run_name = args.text("run_name", required=False) or tags.get("mlflow.runName") \
        or f"run-{secrets.token_hex(3)}"
    tags["mlflow.runName"] = run_name
    parent_id = tags.get("mlflow.parentRunId")
    parent = None
    if parent_id:
        access.refuse_foreign({"mlflow.parentRunId": parent_id})
        try:
            parent = access.store.get_run(parent_id)
        except RunNotFound:
            raise invalid(f"mlflow.parentRunId {parent_id} is not a run") from None
    start = args.seconds("start_time")
    user = args.text("user_id", required=False) or tags.get("mlflow.user")
    fitting = [f"{k}={v}" for k, v in tags.items() if convert.fits_tag(k, v)]
    long = {k: v for k, v in tags.items() if not convert.fits_tag(k, v)}
    record = new_record(f"{prefix(experiment['name'])}/{run_name}", status="running",
                        parent=parent, actor=access.actor, reason="started by MLflow",
                        now=start or None, tags=fitting,
                        agent=(user or None) and str(user)[:convert.MAX_TAG])
    stored = access.store.create_run(record)
    if long:
        access.store.write(stored["id"], Batch(outputs={LONG_TAGS: long}))
        stored = access.store.get_run(stored["id"])
    return {"run": full_view(access.store, stored)}


@endpoint(router, "/runs/get", ["GET"], write=False)
def get(access: Access, args: Args) -> dict[str, Any]:
    """One run with its latest metrics, params and tags."""
    run_id = args.run_id()
    return {"run": full_view(access.store, load(access, run_id))}


@endpoint(router, "/runs/update", ["POST"])
def update(access: Access, args: Args) -> dict[str, Any]:
    """Change a run's status (ending it at ``end_time``) or name."""
    run_id = args.run_id()
    record = load(access, run_id)
    status = args.text("status", required=False)
    end = args.seconds("end_time")
    if status is not None:
        if status not in FROM_MLFLOW:
            raise invalid(f"Invalid value {status!r} for parameter 'status': one of "
                          f"{', '.join(FROM_MLFLOW)}")
        target = FROM_MLFLOW[status]
        if target != record["status"] and not (target == "running" and
                                                record["status"] in LIVE):
            failure = {"reason": "error", "message": "failed in MLflow"} \
                if target == "failed" else None
            access.store.transition(run_id, target, reason=f"MLflow status {status}",
                                    actor=access.actor, at=end or None,
                                    failure=failure)
    name = args.text("run_name", required=False)
    if name:
        set_tags(access, load(access, run_id), [("mlflow.runName", name)])
    return {"run_info": convert.run_info(load(access, run_id), known_names(access.store))}


@endpoint(router, "/runs/delete", ["POST"])
def delete(access: Access, args: Args) -> dict[str, Any]:
    """MLflow's soft delete: the run is archived (a live run is canceled first)."""
    run_id = args.run_id()
    record = load(access, run_id)
    if record["status"] in LIVE:
        access.store.transition(run_id, "canceled", reason="deleted through MLflow",
                                actor=access.actor)
    if record["status"] != "archived":
        access.store.transition(run_id, "archived", reason="deleted through MLflow",
                                actor=access.actor)
    return {}


@endpoint(router, "/runs/restore", ["POST"])
def restore(access: Access, args: Args) -> dict[str, Any]:
    """Undo ``delete``: the run returns to the state it was archived from."""
    run_id = args.run_id()
    if load(access, run_id)["status"] == "archived":
        access.store.restore_run(run_id, actor=access.actor)
    return {}


@endpoint(router, "/runs/log-metric", ["POST"])
def log_metric(access: Access, args: Args) -> dict[str, Any]:
    """One metric point."""
    run_id = args.run_id()
    log(access, run_id, metrics=[{**args.data, "key": args.req("key")}])
    return {}


@endpoint(router, "/runs/log-parameter", ["POST"])
def log_param(access: Access, args: Args) -> dict[str, Any]:
    """One param (into config)."""
    run_id = args.run_id()
    log(access, run_id, params=[(args.req("key"),
                                 args.text("value", required=False, default="") or "")])
    return {}


@endpoint(router, "/runs/log-batch", ["POST"])
def log_batch(access: Access, args: Args) -> dict[str, Any]:
    """Metrics, params and tags at once."""
    log(access, args.run_id(), metrics=args.items("metrics"),
        params=args.pairs("params"), tags=list(args.pairs("tags")))
    return {}


@endpoint(router, "/runs/set-tag", ["POST"])
def set_tag(access: Access, args: Args) -> dict[str, Any]:
    """One tag, ``key=value``."""
    run_id = args.run_id()
    log(access, run_id, tags=[(args.req("key"),
                               args.text("value", required=False, default="") or "")])
    return {}


@endpoint(router, "/runs/delete-tag", ["POST"])
def delete_tag(access: Access, args: Args) -> dict[str, Any]:
    """Remove a tag; ``RESOURCE_DOES_NOT_EXIST`` when the run has none of that key."""
    run_id, key = args.run_id(), args.req("key")
    record = load(access, run_id)
    if key not in convert.tag_pairs(record):
        raise invalid(f"No tag with name: {key} in run with id {run_id}")
    set_tags(access, record, [(key, None)])
    return {}


def _append(access: Access, run_id: str, field: str, items: list[Any]) -> None:
    record = load(access, run_id)
    current = (record.get("outputs") or {}).get(field)
    if items:
        access.store.write(run_id, Batch(outputs={field: [*(current or []), *items]}))


@endpoint(router, "/runs/log-inputs", ["POST"])
def log_inputs(access: Access, args: Args) -> dict[str, Any]:
    """Datasets a run used, kept as MLflow sent them (``outputs["mlflow_inputs"]``)."""
    _append(access, args.run_id(), INPUTS, args.items("datasets"))
    return {}


@endpoint(router, "/runs/outputs", ["POST"])
def log_outputs(access: Access, args: Args) -> dict[str, Any]:
    """Logged models a run produced (``outputs["mlflow_outputs"]``)."""
    _append(access, args.run_id(), OUTPUTS, args.items("models"))
    return {}


def experiment_runs(access: Access, exp_ids: list[str], *, archived: bool,
                    kind: str | None = None) -> list[dict[str, Any]]:
    """The records of runs in these experiments (runs of ``kind``: logged models)."""
    store = access.store
    known = known_names(store)
    wanted = set(exp_ids)
    globs: set[str | None] = set()
    for exp_id in wanted:
        name = resolve(store, exp_id)["name"]
        # Default also holds the names without a "/": it reads every run
        globs.add(None if exp_id == convert.DEFAULT_ID else f"{prefix(name)}/*")
    if None in globs:
        globs = {None}
    out: dict[str, dict[str, Any]] = {}
    for glob in globs:
        for rec in store.list_runs(RunQuery(name=glob, include_archived=archived)):
            exp, _ = convert.split_name(str(rec["name"]), known)
            if convert.experiment_id(exp) in wanted and \
                    (rec.get("kind") == MODEL_KIND) == (kind == MODEL_KIND):
                out[rec["id"]] = rec
    return list(out.values())


@endpoint(router, "/runs/search", ["POST"], write=False)
def search_runs(access: Access, args: Args) -> dict[str, Any]:
    """Runs of ``experiment_ids`` matching MLflow's ``filter``, in ``order_by``, paged."""
    view_type = str(args.get("run_view_type", "ACTIVE_ONLY"))
    exp_ids = [str(e) for e in args.items("experiment_ids")] or list(
        everything(access.store))
    records = experiment_runs(access, exp_ids, archived=view_type != "ACTIVE_ONLY")
    if view_type == "DELETED_ONLY":
        records = [r for r in records if r["status"] == "archived"]
    latest = access.store.latest_metrics([r["id"] for r in records])
    known = known_names(access.store)
    views = []
    for rec in records:
        at = rec.get("ended_at") or rec.get("last_heartbeat_at") or rec.get("created_at")
        metrics = [convert.metric(k, v, at, 0) for k, v in latest.get(rec["id"], {}).items()]
        views.append(convert.run_view(rec, metrics, known))
    views = search.apply(views, search.parse_filter(args.text("filter", required=False)),
                         search.run_lookup)
    views = search.order(views, [str(o) for o in args.items("order_by")], search.run_lookup,
                         ("attributes", "start_time", True))
    limit = int(args.number("max_results", integer=True) or 1000)
    if not 1 <= limit <= 50_000:
        raise invalid("max_results must be between 1 and 50000")
    chunk, token = search.page(views, args.text("page_token", required=False), limit)
    return {"runs": chunk, **({"next_page_token": token} if token else {})}


@endpoint(router, "/metrics/get-history", ["GET"], write=False)
def get_history(access: Access, args: Args) -> dict[str, Any]:
    """Every point of one metric, in step order, paged by ``max_results``."""
    run_id = args.run_id()
    key = args.req("metric_key")
    load(access, run_id)
    series = access.store.metrics(run_id, key)
    points = [convert.metric(key, p.value, p.time, p.step) for p in series]
    limit = int(args.number("max_results", integer=True) or 25_000)
    if not 1 <= limit <= 25_000:
        raise invalid("max_results must be between 1 and 25000")
    chunk, token = search.page(points, args.text("page_token", required=False), limit)
    return {"metrics": chunk, **({"next_page_token": token} if token else {})}
