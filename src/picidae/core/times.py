"""Run-level times in each surface's one form.

Stores keep epoch seconds (floats). The SDK shows run-level times as timezone-aware UTC
``datetime`` objects (``RunView.created_at``...); JSON (the CLI's ``--json``, the HTTP API)
carries ISO 8601 UTC strings (``2026-01-15T10:30:00.1234567Z``: as many fractional digits as
it takes to give back the stored float exactly, at least 6). Metric point and log line times
stay epoch seconds everywhere, for speed. Inputs accept all three forms.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from picidae.errors import InvalidInput

#: The run-level time fields of a record (besides each transition's ``at``): the fields
#: of ``core.fields.TABLE`` whose query type is ``time`` (kept here, below the table's
#: imports; a test checks they agree).
RUN_TIMES = ("created_at", "started_at", "ended_at", "last_heartbeat_at")
_ISO = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)?")


def to_datetime(value: float | None) -> datetime | None:
    """Epoch seconds as an aware UTC datetime."""
    return None if value is None else datetime.fromtimestamp(value, UTC)


def iso(value: float | None) -> str | None:
    """Epoch seconds as an ISO 8601 UTC string ending in ``Z``, with as many fractional
    digits as it takes (at least 6) for ``from_iso`` to give back exactly ``value``."""
    if value is None:
        return None
    whole = math.floor(value)
    frac = value - whole  # exact for a float
    digits = ""
    for places in range(6, 18):
        text = f"{frac:.{places}f}"
        if text[0] == "0" and whole + float(text) == value:
            digits = text[2:]
            break
    else:
        digits = format(Decimal(frac), "f")[2:] or "0"  # the exact binary fraction
    return f"{datetime.fromtimestamp(whole, UTC):%Y-%m-%dT%H:%M:%S}.{digits}Z"


def from_iso(text: str, field: str = "time") -> float:
    """An ISO 8601 string (as ``iso`` writes it, or any offset) as epoch seconds, exactly:
    the fraction is added to the whole seconds, so ``from_iso(iso(t)) == t``."""
    match = _ISO.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None:
        value = epoch(text, field)
        assert value is not None
        return value
    zone = match[3] if match[3] and match[3] != "Z" else "+00:00"
    try:
        whole = datetime.fromisoformat(match[1] + zone).timestamp()
    except ValueError:
        raise InvalidInput(f"{field} is not a valid time: {text!r}", field=field) from None
    return whole + float("0." + match[2]) if match[2] else whole


def record_to_json(record: dict[str, Any]) -> dict[str, Any]:
    """A run record as the HTTP API sends it: the run-level times (``RUN_TIMES`` and each
    transition's ``at``) as ISO 8601 strings; everything else as it is."""
    out = dict(record)
    for name in RUN_TIMES:
        if out.get(name) is not None:
            out[name] = iso(out[name])
    if out.get("transitions"):
        out["transitions"] = [{**t, "at": iso(t["at"])} if t.get("at") is not None else t
                              for t in out["transitions"]]
    return out


def record_from_json(record: dict[str, Any]) -> dict[str, Any]:
    """The inverse of ``record_to_json`` (epoch seconds, as stores keep them). Numbers pass
    through, so an older server's records read the same."""
    out = dict(record)
    for name in RUN_TIMES:
        if isinstance(out.get(name), str):
            out[name] = from_iso(out[name], name)
    if out.get("transitions"):
        out["transitions"] = [{**t, "at": from_iso(t["at"], "at")}
                              if isinstance(t.get("at"), str) else t
                              for t in out["transitions"]]
    return out


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
