"""A Runicorn-shaped SDK on Picidae's: ``import picidae.compat.runicorn as rn`` and a
Runicorn script records into Picidae unchanged. See docs/migrating.md.

``rn.init`` returns a Picidae ``Run`` (a ``NoopRun`` when disabled), which already speaks
Runicorn: ``log(data, step=, stage=, **metrics)``, ``log_text``, ``log_config(args=None,
extra=None)``, ``set_primary_metric(name, mode)``, ``summary(dict)``, ``log_image(key, image,
caption=)``, ``finish(status="finished")`` (``finished`` → ``completed``, ``interrupted`` →
``canceled``, ``failed``), and the context manager (``finished`` on a normal exit, ``failed``
on an exception). What ``init`` maps: ``path`` → the run's name (``"/"`` or ``None`` → the
root name ``default``, backslashes → ``/``, leading and trailing ``/`` dropped), ``storage`` →
the store, ``run_id`` → attach to that unfinished run, ``workspace_root`` → where the code
snapshot starts, ``force_snapshot`` → no snapshot size limits.
"""

from __future__ import annotations

import os
from typing import Any

from picidae.errors import InvalidInput
from picidae.sdk.api import init as _init
from picidae.sdk.api import is_enabled, set_enabled
from picidae.sdk.noop import NoopRun
from picidae.sdk.run import Run

__all__ = ["NoopRun", "Run", "init", "is_enabled", "set_enabled"]


def run_name(path: str | None) -> str | None:
    """Runicorn's path rules as a Picidae name: ``None`` and ``"/"`` are the root
    (``default``), backslashes become ``/``, leading and trailing ``/`` are dropped; the rest
    (``..``, empty segments, control characters) is refused by the name's own checks."""
    if path is None:
        return None
    if not isinstance(path, str):
        raise InvalidInput(f"path must be a string, got {type(path).__name__}", field="path")
    stripped = path.replace("\\", "/").strip().strip("/")
    return stripped or None


def init(path: str | None = None, storage: str | None = None, run_id: str | None = None,
         alias: str | None = None, capture_env: bool = False, snapshot_code: bool = False,
         workspace_root: str | os.PathLike[str] | None = None, snapshot_format: str = "zip",
         force_snapshot: bool = False, capture_console: bool = False,
         tqdm_mode: str = "smart") -> Run | NoopRun:
    """Start a run as Runicorn's ``rn.init`` does (its defaults: no environment capture, no
    snapshot, no console capture)."""
    if snapshot_format != "zip":
        raise InvalidInput(f"snapshot_format: only 'zip' is supported, got {snapshot_format!r}",
                           field="snapshot_format")
    limits: dict[str, Any] = {}
    if force_snapshot:
        limits = {"snapshot_max_mb": float("inf"), "snapshot_max_files": 2**62}
    return _init(run_name(path), alias=alias, store=storage, id=run_id,
                 capture_env=capture_env, snapshot_code=snapshot_code,
                 capture_console=capture_console, tqdm_mode=tqdm_mode,
                 workspace_root=workspace_root, **limits)
