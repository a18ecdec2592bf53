"""Building a new run record from user input: one validated path for the SDK and the API."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

from picidae.core.ids import new_id
from picidae.core.run import TRIGGERS
from picidae.core.states import State
from picidae.core.validation import clean_label, clean_mapping, clean_name, clean_tags
from picidae.errors import InvalidInput


def clean_seed(seed: Any) -> int | None:
    """A seed: an int (NumPy integers accepted) or ``None``."""
    if seed is None:
        return None
    if isinstance(seed, bool) or not hasattr(seed, "__index__"):
        raise InvalidInput(f"seed must be an int, got {seed!r}", field="seed")
    value = int(seed.__index__())
    if not -(2**63) <= value < 2**63:
        raise InvalidInput(f"seed must fit in 64 bits, got {value}", field="seed")
    return value


def clean_trigger(trigger: Any) -> str:
    """What started the run; ``user`` when not said."""
    value = clean_label(trigger, "trigger") or "user"
    if value not in TRIGGERS:
        raise InvalidInput(f"trigger must be one of {', '.join(TRIGGERS)}; got {value!r}",
                           field="trigger")
    return value


def clean_primary(primary_metric: Any) -> dict[str, Any] | None:
    """``"acc"``, ``("loss", "min")`` or ``{"name", "mode"}`` as a primary-metric record."""
    if primary_metric is None:
        return None
    name: Any
    mode: Any
    if isinstance(primary_metric, str):
        name, mode = primary_metric, "max"
    elif isinstance(primary_metric, Mapping):
        name, mode = primary_metric.get("name"), primary_metric.get("mode", "max")
    elif isinstance(primary_metric, list | tuple) and len(primary_metric) == 2:
        name, mode = primary_metric
    else:
        raise InvalidInput("primary_metric must be a name, (name, mode) or {name, mode}",
                           field="primary_metric")
    if not isinstance(name, str) or not name:
        raise InvalidInput("primary_metric needs a metric name", field="primary_metric")
    if mode not in ("max", "min"):
        raise InvalidInput(f"primary_metric mode must be 'max' or 'min', got {mode!r}",
                           field="primary_metric")
    return {"name": name, "mode": mode, "best": None, "step": None}


def json_field(value: Any, field: str) -> Any:
    """A free-form field (evaluation, compute, resources...): a string or a JSON-like dict."""
    if value is None or isinstance(value, str):
        return value
    return clean_mapping(value, field)


def new_record(name: str | None, *, status: str = "running", parent: dict[str, Any] | None = None,
               alias: Any = None, kind: Any = None, config: Mapping[str, Any] | None = None,
               tags: Iterable[str] | None = None, agent: Any = None, benchmark: Any = None,
               seed: Any = None, trigger: Any = None, evaluation: Any = None,
               compute: Any = None, resources: Any = None, primary_metric: Any = None,
               command: list[str] | None = None, env: dict[str, Any] | None = None,
               actor: str = "sdk", reason: str | None = None,
               now: float | None = None) -> dict[str, Any]:
    """A complete, validated record for a new run, ``queued`` or already ``running`` (with its
    ``queued → running`` transition). ``parent`` is the parent's stored record."""
    if status not in (State.QUEUED.value, State.RUNNING.value):
        raise InvalidInput(f"a new run starts queued or running, not {status!r}",
                           field="status")
    if command is not None and (not isinstance(command, list | tuple)
                                or not all(isinstance(a, str) for a in command)):
        raise InvalidInput("command must be a list of strings (argv)", field="command")
    now = time.time() if now is None else now
    run_id = new_id()
    running = status == State.RUNNING.value
    return {
        "id": run_id,
        "name": clean_name(name),
        "alias": clean_label(alias, "alias"),
        "parent_id": parent["id"] if parent else None,
        "root_id": (parent.get("root_id") or parent["id"]) if parent else run_id,
        "kind": clean_label(kind, "kind"),
        "status": status,
        "trigger": clean_trigger(trigger),
        "agent": clean_label(agent, "agent"),
        "benchmark": clean_label(benchmark, "benchmark"),
        "seed": clean_seed(seed),
        "attempt": 1,
        "created_at": now,
        "started_at": now if running else None,
        "last_heartbeat_at": now if running else None,
        "config": clean_mapping(config, "config"),
        "tags": clean_tags(tags),
        "evaluation": json_field(evaluation, "evaluation"),
        "compute": json_field(compute, "compute"),
        "resources": json_field(resources, "resources"),
        "primary_metric": clean_primary(primary_metric),
        "command": list(command) if command is not None else None,
        "env": json_field(env, "env"),
        "transitions": [{"from": State.QUEUED.value, "to": State.RUNNING.value, "at": now,
                         "reason": reason or "started in-process", "actor": actor}]
        if running else [],
    }
