"""How MLflow's entities map onto Picidae's runs.

- An experiment is a run-name prefix: MLflow run ``R`` of experiment ``E`` is the run named
  ``E/R``. Experiment ``0`` is ``Default``; any other experiment's id is a stable number
  derived from its name, so runs written by Picidae's own SDK under ``E/...`` are found in
  experiment ``E`` too. Experiments created through MLflow (empty ones, their tags, deletion)
  are kept in the workspace's flow ``mlflow-experiments`` (see ``experiments``).
- The MLflow run id is the Picidae run id. Params are ``config`` (kept as MLflow's strings);
  tags are Picidae tags ``key=value`` (a tag longer than a Picidae tag may be, or on several
  lines, is kept in ``outputs["mlflow_tags"]``); ``mlflow.parentRunId`` at creation makes a
  child; metrics are metric points (step, value, time).
- Status: RUNNING ↔ running (and the other live states), SCHEDULED ↔ queued, FINISHED ↔
  completed, FAILED ↔ failed, KILLED ↔ canceled; a deleted run is an archived one.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any

from picidae.core.validation import flatten
from picidae.store.base import Store

DEFAULT_ID = "0"
DEFAULT_NAME = "Default"
MAX_TAG = 128
#: Where tags that cannot be Picidae tags are kept, in ``outputs``.
LONG_TAGS = "mlflow_tags"
INPUTS = "mlflow_inputs"
OUTPUTS = "mlflow_outputs"

TO_MLFLOW = {"queued": "SCHEDULED", "completed": "FINISHED", "failed": "FAILED",
             "canceled": "KILLED"}
FROM_MLFLOW = {"RUNNING": "running", "SCHEDULED": "queued", "FINISHED": "completed",
               "FAILED": "failed", "KILLED": "canceled"}


def experiment_id(name: str) -> str:
    """The stable id of the experiment called ``name``."""
    if name == DEFAULT_NAME:
        return DEFAULT_ID
    return str(int(hashlib.sha256(name.encode()).hexdigest()[:15], 16))


def ms(seconds: float | None) -> int | None:
    """Epoch seconds as MLflow's epoch milliseconds."""
    return None if seconds is None else round(seconds * 1000)


def split_name(name: str, known: set[str] | None = None) -> tuple[str, str]:
    """``(experiment name, MLflow run name)`` of a Picidae run name: the longest known
    experiment name that prefixes it, else its first segment; a name without ``/`` is in
    ``Default``."""
    for exp in sorted(known or (), key=len, reverse=True):
        if name.startswith(exp + "/"):
            return exp, name[len(exp) + 1:]
    if "/" not in name:
        return DEFAULT_NAME, name
    head, rest = name.split("/", 1)
    return head, rest


def tag_pairs(record: dict[str, Any]) -> dict[str, str]:
    """A run's tags as MLflow's ``{key: value}``."""
    out: dict[str, str] = {}
    for label in record.get("tags") or []:
        key, _, value = label.partition("=")
        out[key] = value
    long = (record.get("outputs") or {}).get(LONG_TAGS)
    if isinstance(long, dict):
        out.update({str(k): str(v) for k, v in long.items()})
    return out


def fits_tag(key: str, value: str) -> bool:
    """Whether ``key=value`` can be a Picidae tag as it is."""
    label = f"{key}={value}"
    return (len(label) <= MAX_TAG and label == label.strip() and label.isprintable()
            and "=" not in key)


def mlflow_status(record: dict[str, Any]) -> str:
    """The MLflow status of a run (an archived run: the state it was archived from)."""
    status = str(record.get("status"))
    if status == "archived":
        moves = record.get("transitions") or []
        status = moves[-1].get("from", "completed") if moves else "completed"
    return TO_MLFLOW.get(status, "RUNNING")


def param_text(value: Any) -> str:
    """A config value as MLflow's param string."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and math.isfinite(value) and value == int(value) \
            and abs(value) < 1e16:
        return repr(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def params(record: dict[str, Any]) -> dict[str, str]:
    """A run's config, flattened with dots, as MLflow's params."""
    return {k: param_text(v) for k, v in flatten(record.get("config") or {}).items()}


def run_info(record: dict[str, Any], known: set[str] | None = None) -> dict[str, Any]:
    """MLflow's ``RunInfo`` of a run."""
    exp, name = split_name(str(record["name"]), known)
    tags = tag_pairs(record)
    exp_id = experiment_id(exp)
    info: dict[str, Any] = {
        "run_id": record["id"], "run_uuid": record["id"],
        "run_name": tags.get("mlflow.runName") or name,
        "experiment_id": exp_id, "user_id": record.get("agent") or "",
        "status": mlflow_status(record),
        "start_time": ms(record.get("started_at") or record.get("created_at")),
        "artifact_uri": f"mlflow-artifacts:/{exp_id}/{record['id']}/artifacts",
        "lifecycle_stage": "deleted" if record.get("status") == "archived" else "active"}
    if record.get("ended_at") is not None:
        info["end_time"] = ms(record["ended_at"])
    return info


def run_view(record: dict[str, Any], metrics: list[dict[str, Any]],
             known: set[str] | None = None) -> dict[str, Any]:
    """MLflow's ``Run``: info, data (metrics, params, tags), inputs and outputs."""
    info = run_info(record, known)
    tags = tag_pairs(record)
    tags.setdefault("mlflow.runName", info["run_name"])
    if record.get("parent_id"):
        tags.setdefault("mlflow.parentRunId", record["parent_id"])
    outputs = record.get("outputs") or {}
    view: dict[str, Any] = {
        "info": info,
        "data": {"metrics": metrics,
                 "params": [{"key": k, "value": v} for k, v in params(record).items()],
                 "tags": [{"key": k, "value": v} for k, v in tags.items()]},
        "inputs": {}, "outputs": {}}
    if isinstance(outputs.get(INPUTS), list):
        view["inputs"] = {"dataset_inputs": outputs[INPUTS]}
    if isinstance(outputs.get(OUTPUTS), list):
        view["outputs"] = {"model_outputs": outputs[OUTPUTS]}
    return view


def latest_metrics(store: Store, record: dict[str, Any]) -> list[dict[str, Any]]:
    """The last point of each of a run's metrics, as MLflow's ``Metric`` list."""
    out = []
    for key in store.metric_keys(record["id"]):
        last = store.metrics(record["id"], key, max_points=2).last()
        if last is not None:
            out.append(metric(key, last.value, last.time, last.step))
    return out


def metric(key: str, value: float, time: float | None, step: int) -> dict[str, Any]:
    """One MLflow ``Metric`` (the response spells NaN and infinities as protobuf's JSON)."""
    return {"key": key, "value": value, "timestamp": ms(time) or 0, "step": int(step)}
