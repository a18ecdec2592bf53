"""What every integration shares: importing the framework, the launcher's rank, cleaning
framework values into config and metrics, and a ``Recorder`` that owns (or borrows) the run.

A ``Recorder`` starts its run on the first call of a training (``start``) and ends it at the
end of training (``end``), unless it was handed a run with ``run=``, which it never ends.
"""

from __future__ import annotations

import enum
import importlib
import importlib.util
import os
import traceback as tb
from argparse import Namespace
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any

from picidae.core.validation import clean_key, metric_value
from picidae.errors import InvalidInput, MissingDependency

_RANK_VARS = ("RANK", "SLURM_PROCID", "OMPI_COMM_WORLD_RANK", "LOCAL_RANK")


def require(module: str, extra: str, package: str | None = None, *,
            hint: str = "") -> ModuleType:
    """Import ``module``, or raise ``MissingDependency``: naming ``picidae[extra]`` when it
    is absent, or the import's own error (and ``hint``) when it is installed but broken."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        top = module.split(".", 1)[0]
        try:
            installed = importlib.util.find_spec(top) is not None
        except (ImportError, ValueError):
            installed = False
        broken = f"{exc}{hint}" if installed and getattr(exc, "name", top) != top else None
        raise MissingDependency(package or extra, extra, broken=broken) from exc


def process_rank() -> int:
    """This process's rank as the launcher set it (``RANK``, else ``SLURM_PROCID``, else
    ``OMPI_COMM_WORLD_RANK``, else ``LOCAL_RANK``); 0 when none is set."""
    for var in _RANK_VARS:
        value = os.environ.get(var, "").strip()
        if value:
            try:
                return int(value)
            except ValueError:
                continue
    return 0


def config_value(value: Any, depth: int = 0) -> Any:
    """A framework value as JSON: mappings and ``Namespace``s as dicts, sequences as lists,
    enums by value, numpy values as Python values, anything else by its ``str``."""
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if depth > 16:
        return str(value)
    if isinstance(value, Namespace):
        value = vars(value)
    if isinstance(value, Mapping):
        return {str(k): config_value(v, depth + 1) for k, v in value.items()
                if _usable_key(str(k))}
    if isinstance(value, list | tuple | set | frozenset):
        return [config_value(v, depth + 1) for v in value]
    if isinstance(value, enum.Enum):
        return config_value(value.value, depth + 1)
    tolist = getattr(value, "tolist", None)
    if callable(tolist):
        try:
            return config_value(tolist(), depth + 1)
        except Exception:
            pass
    if hasattr(value, "__fspath__"):
        return os.fspath(value)
    return str(value)


def config_dict(params: Any) -> dict[str, Any]:
    """Hyperparameters (a dict or ``Namespace``) as a JSON config dict."""
    out = config_value(params)
    return out if isinstance(out, dict) else {"params": out}


def _usable_key(key: str) -> bool:
    try:
        clean_key(key)
    except InvalidInput:
        return False
    return True


def metric_values(logs: Mapping[str, Any] | None, prefix: str = "") -> dict[str, float]:
    """The numeric entries of a framework's logs (floats, ints, numpy scalars, 0-d tensors)
    as metric values; text and other entries are left out."""
    out: dict[str, float] = {}
    for key, value in (logs or {}).items():
        name = f"{prefix}{key}"
        if not _usable_key(name):
            continue
        try:
            out[name] = metric_value(name, value)
        except InvalidInput:
            continue
    return out


class Recorder:
    """The run an integration records into: the one handed to it (``run=``, never ended
    here) or one it starts with ``picidae.init(name, **init_kwargs)`` and ends."""

    def __init__(self, name: str | None, run: Any, init_kwargs: dict[str, Any], *,
                 rank: Callable[[], int] | None = None) -> None:
        self.name = name
        self.given = run
        self.init_kwargs = init_kwargs
        self._rank = rank or process_rank  # a framework that knows the rank better says so
        self._own: Any = None
        self.last: Any = None  # the run this recorder started last (kept after it ended)

    @property
    def active(self) -> Any:
        """The run being recorded into now, or ``None`` (not started, ended, or not rank 0)."""
        return self.given if self.given is not None else self._own

    def start(self, *, fresh: bool = False) -> Any:
        """The run to record into, started now when needed (rank 0 only: other ranks get
        ``None``). ``fresh``: a new training begins, so a run of ours still open is from a
        training that stopped before its end (an exception) and is failed first."""
        if self.given is not None:
            return self.given
        if self._own is not None and fresh:
            self._own.fail("crash", message="training stopped before it reached its end")
            self._own = None
        everyone = self.init_kwargs.get("ranks") == "all"  # each rank its own child run
        if self._own is None and (everyone or self._rank() == 0):
            from picidae.sdk.api import init

            self._own = self.last = init(self.name, **self.init_kwargs)
        return self._own

    def end(self, exc: BaseException | None = None, *, status: str = "completed") -> None:
        """End the run this recorder started (``completed`` or ``status``; ``failed`` reason
        ``crash`` for an exception, ``canceled`` for ``KeyboardInterrupt``); a run handed in
        with ``run=`` is left open."""
        run, self._own = self._own, None
        if run is None:
            return
        end_run(run, exc, status=status)


def end_run(run: Any, exc: BaseException | None, *, status: str = "completed") -> None:
    """End ``run`` the way ``with picidae.init(...)`` would for ``exc``."""
    if exc is None:
        run.finish(status)
    elif isinstance(exc, KeyboardInterrupt):
        run.cancel(reason="interrupted")
    else:
        run.fail("crash", message=f"{type(exc).__name__}: {exc}",
                 traceback="".join(tb.format_exception(type(exc), exc, exc.__traceback__)))


class Adapter:
    """Mixin for integration objects: ``run`` and ``with cb:`` (ends the run this object
    started when the block ends, failed on an exception — for trainings whose end the
    framework does not announce, such as an exception inside training)."""

    _rec: Recorder

    @property
    def run(self) -> Any:
        """The run being recorded into, or the last one this object recorded (``None``
        before training starts, or off rank 0)."""
        rec = self._rec
        return rec.active if rec.active is not None else rec.last

    def finish(self) -> None:
        """End the run this object started now (``completed``), if it is still open."""
        self._close(None)

    def _close(self, exc: BaseException | None) -> None:
        if self._rec.active is not None:
            self._summarize(self._rec.active)
        self._rec.end(exc)

    def _summarize(self, run: Any) -> None:
        """Write the summary before the run ends (an integration that has one says so)."""

    def __enter__(self) -> Any:
        return self

    def __exit__(self, exc_type: Any, exc: BaseException | None, trace: Any) -> None:
        self._close(exc)
