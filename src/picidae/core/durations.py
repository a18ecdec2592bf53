"""The one duration grammar, shared by the where-language (``duration_s > 1h``), ``submit
--timeout``, ``gc --older-than``, ``cleanup(older_than=)`` and flow files (``timeout: 2h``).

::

    duration := ["-"] part part*          e.g. 45s, 30m, 2h, 1h30m, 1.5d, 2w
    part     := NUMBER UNIT               no spaces inside; units are case-insensitive
    NUMBER   := 12 | 1.5 | .5
    UNIT     := s | m | h | d | w         seconds, minutes, hours, days, weeks

A bare number (``90``, ``"90"``, ``1.5``) is seconds. ``parse_duration`` reads user input
(also a ``timedelta``) and refuses zero, negative and non-finite values with an
``InvalidInput`` naming the field; the where-language's lexer matches ``DURATION`` inside
an expression and converts with ``seconds``.
"""

from __future__ import annotations

import math
import re
from datetime import timedelta

from picidae.errors import InvalidInput

#: Seconds per unit.
UNITS: dict[str, int] = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}

_DIGITS = r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"
#: A duration, to ``match`` inside a longer text or ``fullmatch`` a whole one.
DURATION = re.compile(rf"-?(?:{_DIGITS}[smhdw])+", re.IGNORECASE)
_PART = re.compile(rf"({_DIGITS})([smhdw])", re.IGNORECASE)
_NUMBER = re.compile(rf"[+-]?{_DIGITS}(?:[eE][+-]?[0-9]+)?")
#: What a duration looks like, for error messages.
EXAMPLES = "90 (seconds), 45s, 30m, 2h, 1h30m, 1.5d or 2w"


def seconds(text: str) -> int | float:
    """The seconds in ``text``, which matches ``DURATION`` (``"1h30m"`` → 5400): an int when
    whole, else a float."""
    total = math.fsum(float(n) * UNITS[u.lower()] for n, u in _PART.findall(text))
    total = -total if text.startswith("-") else total
    return int(total) if total.is_integer() and abs(total) < 2**53 else total


def parse_duration(value: str | float | int | timedelta | None, *,
                   field: str = "duration") -> float | None:
    """Positive seconds from ``90``, ``"90"``, ``"45s"``, ``"30m"``, ``"1h30m"``, ``"1.5d"``,
    ``"2w"`` or a ``timedelta``; ``None`` stays ``None``. ``InvalidInput`` (naming
    ``field``) for anything else, and for zero, negative or non-finite values."""
    if value is None:
        return None
    if isinstance(value, timedelta):
        total = value.total_seconds()
    elif isinstance(value, int | float) and not isinstance(value, bool):
        total = float(value)
    elif isinstance(value, str):
        total = _text_seconds(value, field)
    else:
        raise InvalidInput(f"{field} is a duration such as {EXAMPLES}; got "
                           f"{type(value).__name__} {value!r}", field=field)
    if not math.isfinite(total) or total <= 0:
        raise InvalidInput(f"{field} must be a positive duration, got {value!r}", field=field)
    return total


def _text_seconds(value: str, field: str) -> float:
    text = value.strip()
    if _NUMBER.fullmatch(text):
        return float(text)
    if DURATION.fullmatch(text):
        return float(seconds(text))
    unit = re.search(r"[0-9.]\s*([^\W\d_]+)", text)
    if unit and unit.group(1).lower() not in UNITS:
        raise InvalidInput(f"{field}: unknown unit {unit.group(1)!r} in {value!r}; units are "
                           f"s, m, h, d and w (e.g. {EXAMPLES})", field=field)
    raise InvalidInput(f"{field} is a duration such as {EXAMPLES}; got {value!r}",
                       field=field)
