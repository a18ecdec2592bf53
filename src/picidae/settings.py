"""Every ``PICIDAE_*`` environment variable, read in one place into one typed object."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        from picidae.errors import InvalidInput

        raise InvalidInput(f"{name} must be a number of seconds, got {raw!r}", field=name) from None
    if value <= 0:
        from picidae.errors import InvalidInput

        raise InvalidInput(f"{name} must be positive, got {raw!r}", field=name)
    return value


def _limit(name: str, default: float, *, zero: bool = False) -> float:
    """A positive number (``zero``: a finite number of seconds, 0 allowed)."""
    raw = (os.environ.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not (value >= 0 and value != float("inf") if zero else value > 0):
        from picidae.errors import InvalidInput

        wanted = "a number of seconds, 0 or more" if zero else "a positive number"
        raise InvalidInput(f"{name} must be {wanted}, got {raw!r}", field=name)
    return value


def _choice(name: str, choices: tuple[str, ...], default: str) -> str:
    raw = (os.environ.get(name) or "").strip().lower()
    if not raw:
        return default
    if raw not in choices:
        from picidae.errors import InvalidInput

        raise InvalidInput(f"{name} must be one of {', '.join(choices)}, got {raw!r}",
                           field=name)
    return raw


def _flag(name: str, default: bool) -> bool:
    raw = (os.environ.get(name) or "").strip().lower()
    if not raw:
        return default
    return raw not in ("0", "false", "no", "off")


@dataclass(frozen=True)
class Settings:
    """The settings in force, from the environment at the time of the call."""

    home: Path
    store: str | None
    run_id: str | None
    heartbeat_interval_s: float
    heartbeat_timeout_s: float
    lost_window_s: float
    flush_interval_s: float
    enabled: bool
    artifacts: str | None = None
    tqdm_mode: str = "smart"
    snapshot_max_mb: float = 100.0
    snapshot_max_files: int = 10_000
    capture_git: bool = True
    capture_packages: bool = True
    image: str | None = None
    #: Set by ``picidae worker`` for the command it runs: where the SDK leaves how the
    #: program asked its run to end (the worker ends it; see ``sdk/managed.py``).
    managed: str | None = None
    #: Workers (``picidae worker``, see docs/running.md).
    worker_poll_s: float = 1.0
    cancel_grace_s: float = 10.0
    sample_interval_s: float = 5.0
    prices: str | None = None
    compute_target: str = "local"
    buffer_mb: float = 256.0
    finish_timeout_s: float = 60.0
    #: How long a new run of the SDK may wait to be written, with its end if it ends by
    #: then and with other new runs (``store/sql/deferred.py``); 0: each at once.
    new_run_delay_s: float = 0.05
    #: System metrics of in-process runs (``sdk/system.py``).
    system_metrics: bool = True
    system_interval_s: float = 10.0
    #: OpenLineage emission (``store/openlineage.py``, docs/operations.md): an HTTP
    #: endpoint, or a file of JSON lines; the job namespace.
    openlineage_url: str | None = None
    openlineage_file: str | None = None
    openlineage_namespace: str = "picidae"
    #: The server's address as users reach it (links in alerts).
    public_url: str | None = None

    @classmethod
    def from_env(cls) -> Settings:
        """Read the ``PICIDAE_*`` variables now (they are not cached, so tests may set them)."""
        home = os.environ.get("PICIDAE_HOME") or str(Path.home() / ".picidae")
        return cls(
            home=Path(home).expanduser(),
            store=os.environ.get("PICIDAE_STORE") or None,
            run_id=os.environ.get("PICIDAE_RUN_ID") or None,
            heartbeat_interval_s=_float("PICIDAE_HEARTBEAT_INTERVAL_S", 60.0),
            heartbeat_timeout_s=_float("PICIDAE_HEARTBEAT_TIMEOUT_S", 900.0),
            lost_window_s=_float("PICIDAE_LOST_WINDOW_S", 172800.0),
            flush_interval_s=_float("PICIDAE_FLUSH_INTERVAL_S", 0.5),
            enabled=os.environ.get("PICIDAE_DISABLED", "").lower() not in ("1", "true", "yes"),
            artifacts=os.environ.get("PICIDAE_ARTIFACTS") or None,
            tqdm_mode=_choice("PICIDAE_TQDM_MODE", ("smart", "all", "none"), "smart"),
            snapshot_max_mb=_limit("PICIDAE_SNAPSHOT_MAX_MB", 100.0),
            snapshot_max_files=int(_limit("PICIDAE_SNAPSHOT_MAX_FILES", 10_000)),
            capture_git=_flag("PICIDAE_CAPTURE_GIT", True),
            capture_packages=_flag("PICIDAE_CAPTURE_PACKAGES", True),
            image=os.environ.get("PICIDAE_IMAGE") or None,
            managed=os.environ.get("PICIDAE_MANAGED") or None,
            worker_poll_s=_float("PICIDAE_WORKER_POLL_S", 1.0),
            cancel_grace_s=_float("PICIDAE_CANCEL_GRACE_S", 10.0),
            sample_interval_s=_float("PICIDAE_SAMPLE_INTERVAL_S", 5.0),
            prices=os.environ.get("PICIDAE_PRICES") or None,
            compute_target=(os.environ.get("PICIDAE_COMPUTE_TARGET") or "").strip() or "local",
            buffer_mb=_limit("PICIDAE_BUFFER_MB", 256.0),
            finish_timeout_s=_limit("PICIDAE_FINISH_TIMEOUT_S", 60.0),
            new_run_delay_s=_limit("PICIDAE_NEW_RUN_DELAY_S", 0.05, zero=True),
            system_metrics=_flag("PICIDAE_SYSTEM_METRICS", True),
            system_interval_s=_float("PICIDAE_SYSTEM_INTERVAL_S", 10.0),
            openlineage_url=(os.environ.get("PICIDAE_OPENLINEAGE_URL") or "").strip() or None,
            openlineage_file=(os.environ.get("PICIDAE_OPENLINEAGE_FILE") or "").strip() or None,
            openlineage_namespace=(os.environ.get("PICIDAE_OPENLINEAGE_NAMESPACE")
                                   or "").strip() or "picidae",
            public_url=(os.environ.get("PICIDAE_PUBLIC_URL") or "").strip().rstrip("/") or None,
        )


T = TypeVar("T")


def on_environ(read: Callable[[], T]) -> Callable[[], T]:
    """``read``, called again only when the process environment changed since its last call:
    comparing ``os.environ``'s own dict (bytes on POSIX) with a copy is one C-level
    comparison, far cheaper than reading and decoding variables, and the hot paths ask
    several times per run."""
    seen: tuple[dict[object, object] | None, T] | None = None

    @functools.wraps(read)
    def current() -> T:
        nonlocal seen
        raw = getattr(os.environ, "_data", None)
        last = seen
        if last is not None and raw is not None and raw == last[0]:
            return last[1]
        value = read()
        seen = (dict(raw) if isinstance(raw, dict) else None, value)
        return value

    return current


_last: tuple[tuple[tuple[str, str], ...], str, Settings] | None = None


def _read_settings() -> Settings:
    """The current settings. Rebuilt whenever a ``PICIDAE_*`` variable (or HOME) changes, so
    tests and programs may set them at any time; otherwise the last object is reused."""
    global _last
    env = os.environ
    key = tuple((k, v) for k, v in env.items() if k.startswith("PICIDAE_"))
    home = env.get("HOME", "")
    last = _last
    if last is not None and last[0] == key and last[1] == home:
        return last[2]
    value = Settings.from_env()
    _last = (key, home, value)
    return value


#: The current settings (``_read_settings``), read again only when the environment changed.
settings = on_environ(_read_settings)
