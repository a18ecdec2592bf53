"""MLflow 3's logged models (``/logged-models``), which ``autolog()`` and ``log_model`` use to
store a model: each is a Picidae run of kind ``mlflow-model`` named
``EXPERIMENT/models/NAME``, a child of the run that logged it; its files are that run's
artifacts, its params config, its tags tags. Model id ``m-RUN_ID``. Status
``LOGGED_MODEL_PENDING`` is ``running``, ``LOGGED_MODEL_READY`` ``completed``,
``LOGGED_MODEL_UPLOAD_FAILED`` ``failed``. Runs searches leave these runs out."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from picidae.core.record import new_record
from picidae.errors import RunNotFound
from picidae.server.deps import Access
from picidae.server.mlflow import convert, search
from picidae.server.mlflow.errors import Args, endpoint, invalid, not_found
from picidae.server.mlflow.experiments import everything, known_names, prefix, resolve
from picidae.server.mlflow.runs import MODEL_KIND, experiment_runs, log, set_tags

router = APIRouter()

STATUS = {"running": "LOGGED_MODEL_PENDING", "completed": "LOGGED_MODEL_READY",
          "failed": "LOGGED_MODEL_UPLOAD_FAILED"}
FROM_STATUS = {"LOGGED_MODEL_READY": "completed", "LOGGED_MODEL_UPLOAD_FAILED": "failed"}


def run_of(model_id: str) -> str:
    """The Picidae run id of a model id."""
    if not model_id.startswith("m-"):
        raise not_found(f"Logged model with ID '{model_id}' not found.")
    return model_id[2:]


def _load(access: Access, model_id: str) -> dict[str, Any]:
    try:
        record = access.store.get_run(run_of(model_id))
    except RunNotFound:
        raise not_found(f"Logged model with ID '{model_id}' not found.") from None
    if record.get("kind") != MODEL_KIND:
        raise not_found(f"Logged model with ID '{model_id}' not found.")
    return record


def view(record: dict[str, Any], known: set[str]) -> dict[str, Any]:
    """MLflow's ``LoggedModel``."""
    info = convert.run_info(record, known)
    tags = convert.tag_pairs(record)
    name = tags.pop("mlflow.modelName", info["run_name"].removeprefix("models/"))
    tags.pop("mlflow.runName", None)
    model_id = f"m-{record['id']}"
    return {"info": {
        "model_id": model_id, "experiment_id": info["experiment_id"], "name": name,
        "creation_timestamp_ms": info["start_time"],
        "last_updated_timestamp_ms": info.get("end_time") or info["start_time"],
        "artifact_uri": f"mlflow-artifacts:/{info['experiment_id']}/models/{model_id}/"
                        "artifacts",
        "status": STATUS.get(str(record["status"]), "LOGGED_MODEL_READY"),
        "model_type": tags.pop("mlflow.modelType", ""),
        **({"source_run_id": record["parent_id"]} if record.get("parent_id") else {}),
        "tags": [{"key": k, "value": v} for k, v in tags.items()]},
        "data": {"params": [{"key": k, "value": v}
                            for k, v in convert.params(record).items()], "metrics": []}}


@endpoint(router, "/logged-models", ["POST"])
def create(access: Access, args: Args) -> dict[str, Any]:
    """Create a logged model (pending until its files are uploaded and it is finalized)."""
    exp_id = args.text("experiment_id", required=False, default=convert.DEFAULT_ID) or "0"
    experiment = resolve(access.store, exp_id)
    name = args.text("name", required=False) or "model"
    source = args.text("source_run_id", required=False)
    parent = None
    if source:
        access.refuse_foreign({"source_run_id": source})
        try:
            parent = access.store.get_run(source)
        except RunNotFound:
            raise invalid(f"source_run_id {source} is not a run") from None
    record = new_record(f"{prefix(experiment['name'])}/models/{prefix(name)}",
                        status="running", parent=parent, actor=access.actor,
                        reason="logged model created by MLflow", kind=MODEL_KIND)
    stored = access.store.create_run(record)
    extra = [("mlflow.modelName", name)]
    if args.text("model_type", required=False):
        extra.append(("mlflow.modelType", args.req("model_type")))
    log(access, stored["id"], params=args.pairs("params"),
        tags=[*args.pairs("tags"), *extra])
    return {"model": view(access.store.get_run(stored["id"]), known_names(access.store))}


@endpoint(router, "/logged-models/search", ["POST"], write=False)
def search_models(access: Access, args: Args) -> dict[str, Any]:
    """Logged models of ``experiment_ids`` (``filter`` over their attributes, tags and
    params), paged."""
    exp_ids = [str(e) for e in args.items("experiment_ids")] or list(
        everything(access.store))
    known = known_names(access.store)
    views = [view(r, known) for r in experiment_runs(access, exp_ids, archived=False,
                                                     kind=MODEL_KIND)]

    def lookup(item: dict[str, Any], entity: str, key: str) -> Any:
        if entity in ("tags", "params"):
            source = item["info"]["tags"] if entity == "tags" else item["data"]["params"]
            return next((t["value"] for t in source if t["key"] == key), None)
        return item["info"].get(key) if entity == "attributes" else None

    views = search.apply(views, search.parse_filter(args.text("filter", required=False)),
                         lookup)
    limit = int(args.number("max_results", integer=True) or 100)
    chunk, token = search.page(views, args.text("page_token", required=False), limit)
    return {"models": chunk, **({"next_page_token": token} if token else {})}


@endpoint(router, "/logged-models/{model_id}", ["GET"], write=False)
def get(access: Access, args: Args) -> dict[str, Any]:
    """One logged model."""
    return {"model": view(_load(access, args.req("model_id")), known_names(access.store))}


@endpoint(router, "/logged-models/{model_id}", ["PATCH"])
def finalize(access: Access, args: Args) -> dict[str, Any]:
    """Set a logged model's final status (READY once its files are uploaded)."""
    record = _load(access, args.req("model_id"))
    status = args.req("status")
    if status not in FROM_STATUS:
        raise invalid(f"Invalid value {status!r} for parameter 'status': one of "
                      f"{', '.join(FROM_STATUS)}")
    if record["status"] != FROM_STATUS[status]:
        access.store.transition(record["id"], FROM_STATUS[status], actor=access.actor,
                                reason=f"MLflow status {status}")
    return {"model": view(access.store.get_run(record["id"]), known_names(access.store))}


@endpoint(router, "/logged-models/{model_id}", ["DELETE"])
def delete(access: Access, args: Args) -> dict[str, Any]:
    """Archive a logged model (a pending one is canceled first)."""
    record = _load(access, args.req("model_id"))
    if record["status"] == "running":
        access.store.transition(record["id"], "canceled", actor=access.actor,
                                reason="deleted through MLflow")
    if record["status"] != "archived":
        access.store.transition(record["id"], "archived", actor=access.actor,
                                reason="deleted through MLflow")
    return {}


@endpoint(router, "/logged-models/{model_id}/tags", ["PATCH", "POST"])
def set_model_tags(access: Access, args: Args) -> dict[str, Any]:
    """Set tags of a logged model."""
    record = _load(access, args.req("model_id"))
    set_tags(access, record, list(args.pairs("tags")))
    return {}


@endpoint(router, "/logged-models/{model_id}/tags/{tag_key}", ["DELETE"])
def delete_model_tag(access: Access, args: Args) -> dict[str, Any]:
    """Remove one tag of a logged model."""
    record = _load(access, args.req("model_id"))
    set_tags(access, record, [(args.req("tag_key"), None)])
    return {}


@endpoint(router, "/logged-models/{model_id}/params", ["POST"])
def log_model_params(access: Access, args: Args) -> dict[str, Any]:
    """Log params of a logged model."""
    record = _load(access, args.req("model_id"))
    log(access, record["id"], params=args.pairs("params"))
    return {}
