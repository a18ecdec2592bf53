"""A sweep's definition as data: its search space (``--param lr=loguniform:1e-5:1e-1``), the
strategy, budget, primary metric and pruning, checked before anything is stored.

Pure: the controller (``executor.sweep``) turns each ``Param`` into an Optuna distribution.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from picidae.core.submit_args import parse_value
from picidae.core.validation import clean_key
from picidae.errors import InvalidInput

STRATEGIES = ("random", "tpe", "grid")
MODES = ("max", "min")
PRUNERS = ("none", "median")
FORMS = ("uniform", "loguniform", "int", "choice")
#: At most this many trials in one sweep.
MAX_TRIALS = 10_000


@dataclass(frozen=True)
class Param:
    """One dimension of a search space: ``kind`` is a form of ``FORMS``; ``low``/``high``
    bound the numeric forms, ``choices`` lists a ``choice``'s values."""

    name: str
    kind: str
    low: float = 0.0
    high: float = 0.0
    choices: tuple[Any, ...] = ()

    def form(self) -> str:
        """The parameter as it is typed (``loguniform:1e-05:0.1``)."""
        if self.kind == "choice":
            return "choice:" + ",".join(str(c) for c in self.choices)
        if self.kind == "int":
            return f"int:{int(self.low)}:{int(self.high)}"
        return f"{self.kind}:{self.low!r}:{self.high!r}"

    def grid_values(self) -> list[Any]:
        """Every value a grid visits (``choice`` and ``int`` only)."""
        if self.kind == "choice":
            return list(self.choices)
        if self.kind == "int":
            return list(range(int(self.low), int(self.high) + 1))
        raise InvalidInput(f"--param {self.name}: a grid needs choice or int parameters, not "
                           f"{self.kind}", field="params")


def _number(text: str, name: str, whole: bool = False) -> float:
    try:
        value = float(int(text)) if whole else float(text)
    except ValueError:
        kind = "an integer" if whole else "a number"
        raise InvalidInput(f"--param {name}: {text!r} is not {kind}", field="params") from None
    if not math.isfinite(value):
        raise InvalidInput(f"--param {name}: bounds must be finite, got {text!r}",
                           field="params")
    return value


def parse_param(name: str, form: str) -> Param:
    """A ``Param`` from its form: ``uniform:A:B``, ``loguniform:A:B``, ``int:A:B`` or
    ``choice:a,b,c`` (choices parsed like ``--set`` values: ``2`` is an int, ``adam`` a
    string)."""
    name = clean_key(name, "params")
    if not isinstance(form, str):
        raise InvalidInput(f"--param {name}: a form is a string like uniform:0:1, got "
                           f"{form!r}", field="params")
    kind, _, rest = form.strip().partition(":")
    if kind not in FORMS:
        raise InvalidInput(f"--param {name}: unknown form {kind!r}; use uniform:A:B, "
                           "loguniform:A:B, int:A:B or choice:a,b,c", field="params")
    if kind == "choice":
        values = tuple(parse_value(v.strip()) for v in rest.split(",") if v.strip())
        if not values or any(not isinstance(v, str | int | float | bool) for v in values):
            raise InvalidInput(f"--param {name}: choice takes a comma list of values, like "
                               "choice:2,4,8", field="params")
        if len(set(values)) != len(values):
            raise InvalidInput(f"--param {name}: choice repeats a value", field="params")
        return Param(name, kind, choices=values)
    bounds = rest.split(":")
    if len(bounds) != 2:
        raise InvalidInput(f"--param {name}: {kind} takes two bounds, like {kind}:1:10; got "
                           f"{form!r}", field="params")
    low, high = (_number(b.strip(), name, whole=kind == "int") for b in bounds)
    if not low < high if kind != "int" else not low <= high:
        raise InvalidInput(f"--param {name}: the low bound must be below the high one, got "
                           f"{form!r}", field="params")
    if kind == "loguniform" and low <= 0:
        raise InvalidInput(f"--param {name}: loguniform bounds must be positive, got "
                           f"{form!r}", field="params")
    return Param(name, kind, low, high)


def parse_params(params: Mapping[str, str] | list[str] | tuple[str, ...] | None,
                 ) -> list[Param]:
    """The search space from ``{"lr": "loguniform:1e-5:1e-1"}`` or ``["lr=loguniform:…"]``
    (what ``--param`` gives)."""
    if params is None:
        params = {}
    if isinstance(params, Mapping):
        items = list(params.items())
    elif isinstance(params, list | tuple):
        items = []
        for word in params:
            name, sep, form = str(word).partition("=")
            if not sep or not name.strip():
                raise InvalidInput(f"--param takes NAME=FORM (like lr=loguniform:1e-5:1e-1), "
                                   f"got {word!r}", field="params")
            items.append((name.strip(), form))
    else:
        raise InvalidInput("params is a mapping of name to form, like "
                           "{'lr': 'loguniform:1e-5:1e-1'}", field="params")
    if not items:
        raise InvalidInput("a sweep needs at least one --param NAME=FORM", field="params")
    names = [n for n, _ in items]
    if len(set(names)) != len(names):
        raise InvalidInput("two --param share a name", field="params")
    return [parse_param(n, f) for n, f in items]


@dataclass
class SweepDef:
    """What a sweep searches and how: stored as the parent's config, so a resumed controller
    reads exactly what the first one did."""

    params: list[Param]
    metric: str
    strategy: str = "tpe"
    trials: int = 20
    parallel: int = 4
    mode: str = "max"
    prune: str = "none"
    seed: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.metric, str) or not self.metric.strip():
            raise InvalidInput("a sweep needs --metric KEY (the trials' primary metric)",
                               field="metric")
        self.metric = clean_key(self.metric.strip(), "metric")
        if self.strategy not in STRATEGIES:
            raise InvalidInput(f"unknown strategy {self.strategy!r}; use one of "
                               f"{', '.join(STRATEGIES)}", field="strategy")
        if self.mode not in MODES:
            raise InvalidInput(f"mode must be max or min, got {self.mode!r}", field="mode")
        if self.prune not in PRUNERS:
            raise InvalidInput(f"unknown pruner {self.prune!r}; use median or none",
                               field="prune")
        for name, value, top in (("trials", self.trials, MAX_TRIALS),
                                 ("parallel", self.parallel, 1024)):
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= top:
                raise InvalidInput(f"{name} must be an int from 1 to {top}, got {value!r}",
                                   field=name)
        if self.seed is not None and (isinstance(self.seed, bool)
                                      or not isinstance(self.seed, int)):
            raise InvalidInput(f"seed must be an int, got {self.seed!r}", field="seed")
        if self.strategy == "grid":
            size = math.prod(len(p.grid_values()) for p in self.params)
            self.trials = min(self.trials, size)  # a grid ends when every point is visited

    def to_config(self) -> dict[str, Any]:
        """The parent's config (what ``from_config`` reads back)."""
        return {"params": [f"{p.name}={p.form()}" for p in self.params], "metric": self.metric,
                "strategy": self.strategy, "trials": self.trials, "parallel": self.parallel,
                "mode": self.mode, "prune": self.prune, "seed": self.seed}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> SweepDef:
        """The definition a sweep parent's config holds."""
        return cls(params=parse_params(config.get("params")), metric=config.get("metric", ""),
                   strategy=config.get("strategy", "tpe"), trials=config.get("trials", 20),
                   parallel=config.get("parallel", 4), mode=config.get("mode", "max"),
                   prune=config.get("prune", "none"), seed=config.get("seed"))
