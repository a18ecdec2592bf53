"""MLflow experiments: create, get, get-by-name, search, delete, restore, set-experiment-tag.

An experiment is a run-name prefix (``convert``). The ones MLflow created (so an empty one
exists), their tags, creation time and deletion are kept as versions of the workspace's flow
``mlflow-experiments`` (the Store protocol's flows: per workspace, on every backend); any
other prefix of a run name is an experiment too, seen through its runs.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter

from picidae.core.validation import clean_name
from picidae.errors import FlowNotFound
from picidae.server.deps import Access
from picidae.server.mlflow import search
from picidae.server.mlflow.convert import DEFAULT_ID, DEFAULT_NAME, experiment_id, split_name
from picidae.server.mlflow.errors import Args, MlflowError, endpoint, invalid, not_found
from picidae.store.base import RunQuery, Store

router = APIRouter()

FLOW = "mlflow-experiments"


def registry(store: Store) -> dict[str, dict[str, Any]]:
    """The experiments MLflow created in this workspace, by id."""
    try:
        spec = store.get_flow(FLOW)["spec"]
    except FlowNotFound:
        return {}
    found = spec.get("experiments") if isinstance(spec, dict) else None
    return dict(found) if isinstance(found, dict) else {}


def _save(store: Store, experiments: dict[str, dict[str, Any]]) -> None:
    store.add_flow(FLOW, {"kind": "mlflow-experiments", "experiments": experiments})


def known_names(store: Store) -> set[str]:
    """The names of the registered experiments (to split run names at the right ``/``)."""
    return {e["name"] for e in registry(store).values()}


def view(exp_id: str, entry: dict[str, Any]) -> dict[str, Any]:
    """MLflow's ``Experiment``."""
    return {"experiment_id": exp_id, "name": entry["name"],
            "artifact_location": f"mlflow-artifacts:/{exp_id}",
            "lifecycle_stage": entry.get("lifecycle_stage", "active"),
            "creation_time": entry.get("creation_time", 0),
            "last_update_time": entry.get("last_update_time", entry.get("creation_time", 0)),
            "tags": [{"key": k, "value": v} for k, v in (entry.get("tags") or {}).items()]}


def everything(store: Store) -> dict[str, dict[str, Any]]:
    """Every experiment: the registered ones, ``Default`` and each run-name prefix."""
    found = registry(store)
    known = {e["name"] for e in found.values()}
    now = int(time.time() * 1000)
    found.setdefault(DEFAULT_ID, {"name": DEFAULT_NAME, "creation_time": 0})
    for rec in store.list_runs(RunQuery(include_archived=True)):
        name, _ = split_name(str(rec["name"]), known)
        exp_id = experiment_id(name)
        created = int(float(rec.get("created_at") or now / 1000) * 1000)
        entry = found.setdefault(exp_id, {"name": name, "creation_time": created})
        if entry.get("creation_time", 0) > created and exp_id not in known:
            entry["creation_time"] = created
    return found


def resolve(store: Store, exp_id: str) -> dict[str, Any]:
    """The experiment of ``exp_id`` (``{name, ...}``); ``RESOURCE_DOES_NOT_EXIST`` if none."""
    found = registry(store).get(exp_id)
    if found is not None:
        return found
    if exp_id == DEFAULT_ID:
        return {"name": DEFAULT_NAME, "creation_time": 0}
    found = everything(store).get(exp_id)
    if found is None:
        raise not_found(f"No Experiment with id={exp_id} exists")
    return found


def prefix(name: str) -> str:
    """An experiment name as a run-name prefix (checked like a run name)."""
    cleaned = clean_name(name.strip("/"))
    assert isinstance(cleaned, str)
    return cleaned


@endpoint(router, "/experiments/create", ["POST"])
def create(access: Access, args: Args) -> dict[str, Any]:
    """Create an experiment; ``RESOURCE_ALREADY_EXISTS`` for a name already registered."""
    name = prefix(args.req("name"))
    exp_id = experiment_id(name)
    experiments = registry(access.store)
    if exp_id in experiments or name == DEFAULT_NAME:
        raise MlflowError("RESOURCE_ALREADY_EXISTS",
                          f"Experiment '{name}' already exists.", 400)
    now = int(time.time() * 1000)
    tags = dict(args.pairs("tags"))
    experiments[exp_id] = {"name": name, "lifecycle_stage": "active", "creation_time": now,
                           "last_update_time": now, "tags": tags}
    _save(access.store, experiments)
    return {"experiment_id": exp_id}


@endpoint(router, "/experiments/get", ["GET"], write=False)
def get(access: Access, args: Args) -> dict[str, Any]:
    """One experiment by id."""
    exp_id = args.req("experiment_id")
    return {"experiment": view(exp_id, resolve(access.store, exp_id))}


@endpoint(router, "/experiments/get-by-name", ["GET"], write=False)
def get_by_name(access: Access, args: Args) -> dict[str, Any]:
    """One experiment by name; ``RESOURCE_DOES_NOT_EXIST`` when no run or registration has
    it."""
    name = args.req("experiment_name")
    try:
        exp_id = experiment_id(prefix(name))
    except Exception:
        raise not_found(f"Could not find experiment with name '{name}'") from None
    found = everything(access.store).get(exp_id)
    if found is None:
        raise not_found(f"Could not find experiment with name '{name}'")
    return {"experiment": view(exp_id, found)}


def _lookup(item: dict[str, Any], entity: str, key: str) -> Any:
    if entity == "tags":
        return next((t["value"] for t in item["tags"] if t["key"] == key), None)
    if entity == "attributes":
        return item.get({"id": "experiment_id"}.get(key, key))
    return None


@endpoint(router, "/experiments/search", ["POST", "GET"], write=False)
def search_experiments(access: Access, args: Args) -> dict[str, Any]:
    """Experiments matching ``filter`` (``name LIKE 'x%'``, ``tags.k = 'v'``), in
    ``order_by``, paged; ``view_type`` ACTIVE_ONLY (default), DELETED_ONLY or ALL."""
    stage = {"ACTIVE_ONLY": {"active"}, "DELETED_ONLY": {"deleted"},
             "ALL": {"active", "deleted"}}.get(str(args.get("view_type", "ACTIVE_ONLY")),
                                               {"active"})
    views = [view(k, v) for k, v in everything(access.store).items()]
    views = [v for v in views if v["lifecycle_stage"] in stage]
    views = search.apply(views, search.parse_filter(args.text("filter", required=False)),
                         _lookup)
    views = search.order(views, [str(o) for o in args.items("order_by")], _lookup,
                         ("attributes", "creation_time", True))
    limit = int(args.number("max_results", integer=True) or 1000)
    if not 1 <= limit <= 50_000:
        raise invalid("max_results must be between 1 and 50000")
    chunk, token = search.page(views, args.text("page_token", required=False), limit)
    return {"experiments": chunk, **({"next_page_token": token} if token else {})}


def _stage(access: Access, args: Args, stage: str) -> dict[str, Any]:
    exp_id = args.req("experiment_id")
    entry = dict(resolve(access.store, exp_id))
    if exp_id == DEFAULT_ID and stage == "deleted":
        raise invalid("Cannot delete the default experiment '0'.")
    experiments = registry(access.store)
    entry.update(lifecycle_stage=stage, last_update_time=int(time.time() * 1000))
    experiments[exp_id] = entry
    _save(access.store, experiments)
    return {}


@endpoint(router, "/experiments/delete", ["POST"])
def delete(access: Access, args: Args) -> dict[str, Any]:
    """Mark an experiment deleted (its runs stay)."""
    return _stage(access, args, "deleted")


@endpoint(router, "/experiments/restore", ["POST"])
def restore(access: Access, args: Args) -> dict[str, Any]:
    """Undo ``delete``."""
    return _stage(access, args, "active")


@endpoint(router, "/experiments/set-experiment-tag", ["POST"])
def set_tag(access: Access, args: Args) -> dict[str, Any]:
    """Set one tag of an experiment."""
    exp_id = args.req("experiment_id")
    entry = dict(resolve(access.store, exp_id))
    entry["tags"] = {**(entry.get("tags") or {}), args.req("key"): args.text(
        "value", required=False, default="")}
    experiments = registry(access.store)
    experiments[exp_id] = entry
    _save(access.store, experiments)
    return {}
