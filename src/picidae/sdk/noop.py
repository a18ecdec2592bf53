"""The no-op run ``init`` returns when recording is disabled (``picidae.set_enabled(False)``)."""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import Any


class NoopRun:
    """Has every method of ``Run``; each does nothing and returns the run."""

    id = "disabled"
    status = "running"
    parent_id = None
    root_id = None
    store = None
    rank = 0  # the launcher's rank (init(ranks="zero") gives other ranks a NoopRun)

    def __init__(self, config: Mapping[str, Any] | None = None, name: str | None = None, *,
                 kind: str | None = None) -> None:
        self.config: dict[str, Any] = dict(config or {})
        self.name: str = name if isinstance(name, str) and name else "default"
        self.kind: str | None = kind

    def _self(self, *args: Any, **kwargs: Any) -> NoopRun:
        return self

    log = log_config = summary = set_primary_metric = log_text = output = progress = _self
    log_image = log_artifact = use_input = flush = heartbeat = transition = _self
    finish = fail = cancel = set_tags = note = alert = _self

    def child(self, name: str | None = None, *, kind: str | None = None,
              config: Mapping[str, Any] | None = None, **init_kwargs: Any) -> NoopRun:
        """A no-op child, named under this one as ``Run.child`` names it."""
        from picidae.sdk.run import child_name

        return NoopRun(config, child_name(self.name, name) if name else self.name, kind=kind)

    def __enter__(self) -> NoopRun:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 trace: TracebackType | None) -> None:
        return None

    def __repr__(self) -> str:
        return f"NoopRun(name={self.name!r})"
