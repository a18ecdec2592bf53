"""Picidae: record and run ML runs — one timestamped, explainable Run primitive.

>>> import picidae
>>> with picidae.init("cv/resnet50/baseline", config={"lr": 0.01}) as run:
...     run.log(loss=0.5)

Names are resolved lazily, so ``import picidae`` stays fast and loads no database driver.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from picidae.errors import (
    ArtifactCorrupt,
    ArtifactNotFound,
    FlowNotFound,
    IllegalTransition,
    InvalidInput,
    MissingDependency,
    PicidaeError,
    RunFinished,
    RunNotFound,
    StoreUnavailable,
)

__version__ = "0.1.0"

_LAZY: dict[str, str] = {
    "init": "picidae.sdk.api",
    "get_run": "picidae.sdk.api",
    "runs": "picidae.sdk.api",
    "set_enabled": "picidae.sdk.api",
    "is_enabled": "picidae.sdk.api",
    "Run": "picidae.sdk.run",
    "RunView": "picidae.sdk.view",
    "NoopRun": "picidae.sdk.noop",
    "MetricSeries": "picidae.store.base",
    "Point": "picidae.core.run",
    "LogLine": "picidae.core.run",
    "Logs": "picidae.core.run",
    "State": "picidae.core.states",
    "events": "picidae.sdk.events",
    "submit": "picidae.executor.submit",
    "sweep": "picidae.executor.sweep",
    "replay": "picidae.executor.rerun",
    "retry": "picidae.executor.rerun",
    "cancel": "picidae.executor.cancel",
    "compare": "picidae.sdk.analysis",
    "history": "picidae.sdk.analysis",
    "cleanup": "picidae.sdk.analysis",
    "lineage": "picidae.sdk.analysis",
    "edit": "picidae.sdk.edit",
    "restore": "picidae.sdk.edit",
}

__all__ = [
    "ArtifactCorrupt",
    "ArtifactNotFound",
    "FlowNotFound",
    "IllegalTransition",
    "InvalidInput",
    "LogLine",
    "Logs",
    "MetricSeries",
    "MissingDependency",
    "NoopRun",
    "PicidaeError",
    "Point",
    "Run",
    "RunFinished",
    "RunNotFound",
    "RunView",
    "State",
    "StoreUnavailable",
    "__version__",
    "cancel",
    "cleanup",
    "compare",
    "edit",
    "events",
    "get_run",
    "history",
    "init",
    "is_enabled",
    "lineage",
    "replay",
    "restore",
    "retry",
    "runs",
    "set_enabled",
    "submit",
    "sweep",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'picidae' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:
    from picidae.core.run import LogLine, Logs, Point
    from picidae.core.states import State
    from picidae.executor.cancel import cancel
    from picidae.executor.rerun import replay, retry
    from picidae.executor.submit import submit
    from picidae.executor.sweep import sweep
    from picidae.sdk.analysis import cleanup, compare, history, lineage
    from picidae.sdk.api import get_run, init, is_enabled, runs, set_enabled
    from picidae.sdk.edit import edit, restore
    from picidae.sdk.events import events
    from picidae.sdk.noop import NoopRun
    from picidae.sdk.run import Run
    from picidae.sdk.view import RunView
    from picidae.store.base import MetricSeries
