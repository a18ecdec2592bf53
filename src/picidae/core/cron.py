"""Cron expressions and time zones, checked and stepped with ``croniter`` (the
``schedules`` extra; imported only when a schedule is read or written).

Five fields (minute hour day month weekday), or six with a trailing seconds field
(``* * * * * */5``: every five seconds), croniter's convention. A slot is a POSIX time.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Any

from picidae.errors import InvalidInput, MissingDependency


def _croniter() -> Any:
    try:
        from croniter import croniter
    except ImportError:
        raise MissingDependency("croniter", "schedules") from None
    return croniter


def zone(tz: str | None) -> tzinfo:
    """The time zone named ``tz`` (IANA, like ``Europe/Berlin``; ``None``: UTC)."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    if tz is None or tz == "UTC":
        return ZoneInfo("UTC")
    if not isinstance(tz, str) or not tz or len(tz) > 64:
        raise InvalidInput(f"unknown time zone {tz!r}", field="tz")
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(f"unknown time zone {tz!r} (an IANA name like Europe/Berlin)",
                           field="tz") from None


def check(cron: str, tz: str | None = None) -> str:
    """``cron`` with its fields single-spaced, or ``InvalidInput`` saying what is wrong."""
    if not isinstance(cron, str):
        raise InvalidInput("a cron expression is a string like '0 3 * * *'", field="cron")
    fields = cron.split()
    if len(fields) not in (5, 6):
        raise InvalidInput(f"invalid cron expression {cron!r}: it has {len(fields)} fields, "
                           "a cron expression has 5 (minute hour day month weekday) or 6 "
                           "(then seconds last)", field="cron")
    text = " ".join(fields)
    croniter = _croniter()
    if not croniter.is_valid(text):
        raise InvalidInput(f"invalid cron expression {cron!r}", field="cron")
    zone(tz)
    return text


def latest_slot(cron: str, tz: str | None, now: float) -> float:
    """The newest slot of ``cron`` (in ``tz``) at or before ``now``."""
    it = _croniter()(cron, datetime.fromtimestamp(now - 1.5, zone(tz)))
    found = None
    while (slot := float(it.get_next(float))) <= now:  # a slot exactly at ``now`` counts
        found = slot
    if found is not None:
        return found
    return float(_croniter()(cron, datetime.fromtimestamp(now, zone(tz))).get_prev(float))


def next_slot(cron: str, tz: str | None, after: float) -> float:
    """The first slot of ``cron`` (in ``tz``) after ``after``."""
    return float(_croniter()(cron, datetime.fromtimestamp(after, zone(tz))).get_next(float))
