"""Flows: named, versioned templates of submitted work (a run is an activity of a flow).

A flow holds a ``Spec`` (command, default config, resources, inputs, eval, timeout, retries,
seeds or grid). ``add`` stores a new version each time; ``run`` submits the latest (or a
given) version with config overrides, linking the run to the flow's name and version;
``POST /api/v1/flows/{name}/runs`` does the same over HTTP with ``trigger=webhook``.

A flow file (``picidae flow add NAME --file flow.yaml``) is YAML, JSON or TOML with the spec's
keys::

    command: python train.py
    config: {lr: 0.01, epochs: 3}
    cpus: 2
    memory: 4G
    timeout: 2h
    eval: python eval.py
    inputs: [{name: data, uri: /data/train.csv}]
    seeds: 42-46
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from picidae.core.submission import Spec, parse_assignments
from picidae.core.validation import clean_mapping, deep_merge
from picidae.errors import InvalidInput, MissingDependency
from picidae.executor.submit import pin_inputs, store_spec
from picidae.sdk.view import RunView
from picidae.store.registry import StoreLocation, open_store


def load_file(path: str | Path) -> dict[str, Any]:
    """A flow spec from a YAML (needs PyYAML: ``pip install 'picidae[flows]'``), JSON or TOML
    file."""
    file = Path(path).expanduser()
    try:
        text = file.read_text()
    except OSError as exc:
        raise InvalidInput(f"cannot read the flow file {file}: {exc.strerror}",
                           field="file") from None
    try:
        if file.suffix == ".json":
            data = json.loads(text)
        elif file.suffix == ".toml":
            data = tomllib.loads(text)
        else:
            try:
                import yaml  # type: ignore[import-untyped]
            except ImportError:
                raise MissingDependency("pyyaml", "flows") from None
            data = yaml.safe_load(text)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise InvalidInput(f"cannot parse the flow file {file}: {exc}", field="file") from None
    if not isinstance(data, dict):
        raise InvalidInput(f"the flow file {file} must hold a mapping (command, config...)",
                           field="file")
    return data


def add(name: str, spec: Spec | Mapping[str, Any], *,
        store: StoreLocation = None) -> dict[str, Any]:
    """Store a new version of flow ``name``; returns ``{name, version, spec, created_at}``."""
    if not isinstance(spec, Spec):
        spec = Spec.from_dict(spec)
    pin_inputs(spec)
    return open_store(store).add_flow(name, spec.to_dict())


def run(name: str, *, overrides: Mapping[str, Any] | None = None,
        set: Iterable[str] | None = None, version: int | None = None,
        run_name: str | None = None, trigger: str | None = None,
        store: StoreLocation = None) -> RunView:
    """Submit flow ``name`` (its latest version, or ``version``) with config ``overrides``
    (and ``set``, ``KEY=VALUE`` words); returns the run (or the parent of its children)."""
    target = open_store(store)
    flow = target.get_flow(name, version)
    spec = Spec.from_dict(flow["spec"])
    extra = deep_merge(clean_mapping(overrides, "overrides"), parse_assignments(set))
    spec.config = deep_merge(spec.config, extra)
    top, _ = store_spec(target, spec, name=run_name or flow["name"], trigger=trigger,
                        flow=(flow["name"], flow["version"]))
    return RunView(target, target.get_run(top["id"]))


def ls(*, store: StoreLocation = None) -> list[dict[str, Any]]:
    """Every flow's latest version, with ``versions`` and ``last_run``."""
    return open_store(store).list_flows()
