"""Run-level times in each surface's one form.

Stores keep epoch seconds (floats). The SDK shows run-level times as timezone-aware UTC
``datetime`` objects (``RunView.created_at``...); JSON (the CLI's ``--json``, the HTTP API)
carries ISO 8601 UTC strings (``2026-01-15T10:30:00.123456Z``). Metric point and log line
times stay epoch seconds everywhere, for speed. Inputs accept all three forms.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from picidae.errors import InvalidInput


def to_datetime(value: float | None) -> datetime | None:
    """Epoch seconds as an aware UTC datetime."""
    return None if value is None else datetime.fromtimestamp(value, UTC)


def iso(value: float | None) -> str | None:
    """Epoch seconds as an ISO 8601 UTC string ending in ``Z``."""
    dt = to_datetime(value)
    return None if dt is None else dt.isoformat().replace("+00:00", "Z")


def epoch(value: Any, field: str) -> float | None:
    """A point in time as epoch seconds, from a ``datetime``, an ISO 8601 string or a number
    of epoch seconds. A naive datetime or string is read as UTC (as ``datetime.utcnow()``
    gives it), since every time Picidae stores is UTC."""
    if value is None:
        return None
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, int | float) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise InvalidInput(f"{field} must be a finite time, got {value!r}", field=field)
        return float(value)
    elif isinstance(value, str):
        try:
            dt = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise InvalidInput(f"{field} must be a date or time (ISO 8601, e.g. "
                               f"2026-01-15T10:30:00Z), got {value!r}", field=field) from None
    else:
        raise InvalidInput(f"{field} must be a datetime, an ISO 8601 string or epoch seconds, "
                           f"got {type(value).__name__}", field=field)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()
