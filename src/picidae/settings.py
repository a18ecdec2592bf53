"""Every ``PICIDAE_*`` environment variable, read in one place into one typed object."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


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
            flush_interval_s=_float("PICIDAE_FLUSH_INTERVAL_S", 1.0),
            enabled=os.environ.get("PICIDAE_DISABLED", "").lower() not in ("1", "true", "yes"),
        )


def settings() -> Settings:
    """The current settings (read afresh from the environment)."""
    return Settings.from_env()
