"""Submitted work as data: the ``Spec`` of a command to run (its loose, typed-in forms are
read by ``core.submit_args`` and ``core.durations``), and ``plan``, which turns a spec into
the queued run records a worker will execute.

Pure (no store, no processes), so ``picidae submit``, ``picidae.submit()``, flows and the
server's webhook build exactly the same records. A spec with ``seeds`` or ``grid`` plans one
*group parent* (never claimed by a worker; it ends when its children do) and one child per
seed or grid point (the cartesian product), kind ``seed`` or ``sweep-point``.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from picidae.core.durations import parse_duration
from picidae.core.record import new_record
from picidae.core.submit_args import (
    MAX_CHILDREN,
    as_list,
    clean_input,
    nest,
    parse_assignments,
    parse_command,
    parse_grid,
    parse_input,
    parse_memory,
    parse_seeds,
    parse_value,
)
from picidae.core.validation import clean_label, clean_mapping, clean_tags, deep_merge
from picidae.errors import InvalidInput

__all__ = [  # the parsers are re-exported: callers import them from here
    "DEFAULT_QUEUE", "MAX_CHILDREN", "Spec", "clean_input", "nest", "parse_assignments",
    "parse_command", "parse_duration", "parse_grid", "parse_input", "parse_memory",
    "parse_seeds", "parse_value", "plan", "plan_children",
]

DEFAULT_QUEUE = "default"


# -- the spec ---------------------------------------------------------------------------

@dataclass
class Spec:
    """What to run and how: a command, its config, seeds or grid, the resource request,
    inputs, an evaluation command, a timeout and automatic retries of crashes."""

    command: list[str]
    config: dict[str, Any] = field(default_factory=dict)
    seeds: list[int] | None = None
    grid: dict[str, list[Any]] | None = None
    cpus: float | None = None
    gpus: int | None = None
    memory_mb: float | None = None
    inputs: list[dict[str, Any]] = field(default_factory=list)
    eval: list[str] | None = None
    timeout_s: float | None = None
    retries: int = 0
    allow_failures: bool = False
    queue: str = DEFAULT_QUEUE
    tags: list[str] = field(default_factory=list)
    #: Where the command runs when the run has no code snapshot (if that folder exists on
    #: the worker's machine); ``None``: the work folder.
    cwd: str | None = None
    #: The ``code`` field of the runs (git state and ``snapshot`` digest, if any).
    code: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        self.command = parse_command(self.command) or []
        self.config = clean_mapping(self.config, "config")
        if self.cpus is not None and (isinstance(self.cpus, bool)
                                      or not isinstance(self.cpus, int | float)
                                      or not self.cpus > 0):
            raise InvalidInput(f"cpus must be positive, got {self.cpus!r}", field="cpus")
        if self.gpus is not None and (isinstance(self.gpus, bool) or not isinstance(self.gpus, int)
                                      or self.gpus < 0):
            raise InvalidInput(f"gpus must be a non-negative int, got {self.gpus!r}",
                               field="gpus")
        if isinstance(self.retries, bool) or not isinstance(self.retries, int) \
                or not 0 <= self.retries <= 100:
            raise InvalidInput(f"retries must be an int from 0 to 100, got {self.retries!r}",
                               field="retries")
        self.queue = clean_label(self.queue, "queue", max_len=64) or DEFAULT_QUEUE
        self.tags = clean_tags(self.tags)
        if self.cwd is not None and not isinstance(self.cwd, str):
            raise InvalidInput("cwd must be a folder path", field="cwd")
        self.code = clean_mapping(self.code, "code") or None
        if not isinstance(self.inputs, list):
            raise InvalidInput("inputs must be a list", field="inputs")
        self.inputs = [clean_input(i) if isinstance(i, Mapping) else parse_input(i)
                       for i in self.inputs]
        names = [i["name"] for i in self.inputs]
        if len(set(names)) != len(names):
            raise InvalidInput("two inputs share a name", field="inputs")
        if self.n_children() > MAX_CHILDREN:
            raise InvalidInput(f"this submits {self.n_children()} children; at most "
                               f"{MAX_CHILDREN}", field="grid")

    @classmethod
    def build(cls, command: str | Iterable[str], *, config: Mapping[str, Any] | None = None,
              set: Iterable[str] | None = None, seeds: Any = None, grid: Any = None,
              cpus: float | None = None, gpus: int | None = None, memory: Any = None,
              inputs: Iterable[Any] | None = None, eval: str | Iterable[str] | None = None,
              timeout: Any = None, retries: int = 0, allow_failures: bool = False,
              queue: str | None = None, tags: Iterable[str] | None = None,
              cwd: str | None = None, code: Mapping[str, Any] | None = None) -> Spec:
        """A spec from the loose forms users type (strings, ranges, ``k=v`` words)."""
        merged = deep_merge(clean_mapping(config, "config"), parse_assignments(set))
        return cls(command=parse_command(command) or [], config=merged,
                   seeds=parse_seeds(seeds), grid=parse_grid(grid), cpus=cpus, gpus=gpus,
                   memory_mb=parse_memory(memory),
                   inputs=[parse_input(i) for i in as_list(inputs, "inputs")],
                   eval=parse_command(eval, "eval"),
                   timeout_s=parse_duration(timeout, field="timeout"),
                   retries=retries, allow_failures=allow_failures,
                   queue=queue or DEFAULT_QUEUE, tags=clean_tags(tags), cwd=cwd,
                   code=code)  # type: ignore[arg-type]  # checked in __post_init__

    def to_dict(self) -> dict[str, Any]:
        """The spec as JSON-ready data (how flows store it)."""
        return {"command": self.command, "config": self.config, "seeds": self.seeds,
                "grid": self.grid, "cpus": self.cpus, "gpus": self.gpus,
                "memory_mb": self.memory_mb, "inputs": self.inputs, "eval": self.eval,
                "timeout_s": self.timeout_s, "retries": self.retries,
                "allow_failures": self.allow_failures, "queue": self.queue, "tags": self.tags,
                "cwd": self.cwd, "code": self.code}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Spec:
        """A spec from ``to_dict``'s form, or a flow file's (which may say ``memory: 4G``,
        ``timeout: 2h``, ``set: [k=v]``, ``seeds: 42-46``, ``grid: {lr: [..]}``)."""
        known = {"command", "config", "set", "seeds", "grid", "cpus", "gpus", "memory",
                 "memory_mb", "inputs", "eval", "timeout", "timeout_s", "retries",
                 "allow_failures", "queue", "tags", "name", "description", "cwd", "code"}
        if not isinstance(data, Mapping):
            raise InvalidInput("a flow spec is a mapping of command, config, resources...",
                               field="spec")
        unknown = set(data) - known
        if unknown:
            raise InvalidInput(f"unknown flow spec keys: {', '.join(sorted(unknown))} (known: "
                               f"{', '.join(sorted(known))})", field="spec")
        if not data.get("command"):
            raise InvalidInput("a flow spec needs a command", field="command")
        return cls.build(
            data["command"], config=data.get("config"), set=data.get("set"),
            seeds=data.get("seeds"), grid=data.get("grid"), cpus=data.get("cpus"),
            gpus=data.get("gpus"), memory=data.get("memory_mb", data.get("memory")),
            inputs=data.get("inputs"), eval=data.get("eval"),
            timeout=data.get("timeout_s", data.get("timeout")),
            retries=data.get("retries") or 0,
            allow_failures=data.get("allow_failures") is True, queue=data.get("queue"),
            tags=data.get("tags"), cwd=data.get("cwd"), code=data.get("code"))

    def n_children(self) -> int:
        """How many children a submission of this spec makes (0: a single run)."""
        if self.seeds is None and self.grid is None:
            return 0
        points = math.prod(len(v) for v in self.grid.values()) if self.grid else 1
        return points * (len(self.seeds) if self.seeds else 1)

    def request(self) -> dict[str, Any]:
        """The resource request, as ``resources.request`` records it."""
        out: dict[str, Any] = {}
        if self.cpus is not None:
            out["cpus"] = self.cpus
        if self.gpus is not None:
            out["gpus"] = self.gpus
        if self.memory_mb is not None:
            out["memory_mb"] = self.memory_mb
        return out


# -- planning records -------------------------------------------------------------------

def _label(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    return text.replace("/", "_").replace("\\", "_") or "_"


def _points(spec: Spec) -> list[tuple[dict[str, Any], int | None, str]]:
    """Each child's (grid values, seed, name suffix)."""
    keys = list(spec.grid) if spec.grid else []
    combos = list(itertools.product(*(spec.grid[k] for k in keys))) if spec.grid else [()]
    seeds: list[int | None] = list(spec.seeds) if spec.seeds else [None]
    out = []
    for combo in combos:
        values = dict(zip(keys, combo, strict=True))
        point = ",".join(f"{k}={_label(v)}" for k, v in values.items())
        for seed in seeds:
            parts = [p for p in (point, None if seed is None else f"seed-{seed}") if p]
            out.append((values, seed, "/".join(parts)))
    return out


def _execution(spec: Spec) -> dict[str, Any]:
    return {"eval": spec.eval, "timeout_s": spec.timeout_s, "retries": spec.retries,
            "cwd": spec.cwd}


def plan(spec: Spec, *, name: str | None = None, parent: dict[str, Any] | None = None,
         trigger: str | None = None, kind: str | None = None,
         flow: tuple[str, int] | None = None, actor: str = "submit") -> dict[str, Any]:
    """The top record of a submission of ``spec``: the run itself, or the group parent when
    the spec has seeds or a grid (then ``plan_children`` gives its children, once it is
    stored). ``parent`` is the stored record of an existing run to put the work under;
    ``flow`` the (name, version) it comes from."""
    request = spec.request()
    rec = new_record(name, status="queued", parent=parent, kind=kind, config=spec.config,
                     resources={"request": request} if request else None, trigger=trigger,
                     tags=spec.tags, command=spec.command, actor=actor)
    rec.update(inputs=spec.inputs, code=spec.code, queue=spec.queue,
               execution=_execution(spec), flow=flow[0] if flow else None,
               flow_version=flow[1] if flow else None)
    n = spec.n_children()
    if n:  # a group parent: never claimed; it ends when its children have
        rec["queue"] = None
        rec["execution"]["group"] = {"children": n, "allow_failures": spec.allow_failures}
    return rec


def plan_children(spec: Spec, group: dict[str, Any], *, actor: str = "submit",
                  ) -> list[dict[str, Any]]:
    """The children of the stored group parent ``group``: one per seed and grid point, kind
    ``seed`` or ``sweep-point``, config with the point's values and ``seed``."""
    if not spec.n_children():
        return []
    request = spec.request()
    kind = "sweep-point" if spec.grid else "seed"
    out = []
    for values, seed, suffix in _points(spec):
        config = deep_merge(spec.config, nest(values))
        if seed is not None:
            config["seed"] = seed
        child = new_record(f"{group['name']}/{suffix}", status="queued", parent=group,
                           kind=kind, config=config, seed=seed, trigger="child",
                           resources={"request": request} if request else None,
                           tags=spec.tags, command=spec.command, actor=actor)
        child.update(inputs=spec.inputs, code=spec.code, queue=spec.queue,
                     execution=_execution(spec))
        out.append(child)
    return out
