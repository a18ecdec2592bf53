"""The no-op run ``init`` returns when recording is disabled (``picidae.set_enabled(False)``)."""

from __future__ import annotations

from types import TracebackType
from typing import Any


class NoopRun:
    """Has every method of ``Run``; each does nothing and returns the run."""

    id = "disabled"
    name = "default"
    status = "running"
    parent_id = None
    root_id = None
    kind = None
    store = None

    def __init__(self, config: dict[str, Any] | None = None) -> None:
        self.config: dict[str, Any] = dict(config or {})

    def _self(self, *args: Any, **kwargs: Any) -> NoopRun:
        return self

    log = log_config = summary = set_primary_metric = log_text = output = progress = _self
    log_image = log_artifact = use_input = flush = heartbeat = transition = _self
    finish = fail = cancel = _self

    def child(self, *args: Any, **kwargs: Any) -> NoopRun:
        """A no-op child."""
        return NoopRun(kwargs.get("config"))

    def __enter__(self) -> NoopRun:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 trace: TracebackType | None) -> None:
        return None

    def __repr__(self) -> str:
        return "NoopRun()"
