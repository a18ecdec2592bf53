"""The JSON text of stored documents (run data, event payloads, package sets, queue specs).

One encoder, made once: ``json.dumps`` with any argument but the defaults builds a new
``JSONEncoder`` on every call, which cost W2's committer ~3 µs per event row (issue 17).
``reparsed`` gives what a document's text parses back to without writing or parsing it.
"""

from __future__ import annotations

import json
from typing import Any

# Compact, and NaN and infinities survive (summary values may be NaN). Encoding keeps no
# state between calls, so threads share it.
_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=True)


def dumps(value: Any) -> str:
    """JSON for stored documents; NaN and infinities survive (summary values may be NaN)."""
    return _ENCODER.encode(value)


#: Values JSON gives back as they went in, of these exact types: a ``str`` (lone surrogates
#: are escaped and restored), an ``int`` (any size), a ``float`` (its ``repr`` round-trips,
#: NaN and infinities too), ``True``/``False`` and ``None``. A subclass (an ``IntEnum``, a
#: NumPy ``float64``) comes back as its base type, so it is not one of them.
_LEAVES = frozenset((str, int, float, bool, type(None)))
_KEYS = frozenset((str,))
#: Nesting past this goes the long way (which refuses what it must, as it always did).
_MAX_DEPTH = 64


class _Unusual(Exception):
    """A value ``reparsed`` does not copy (see ``_LEAVES``)."""


def reparsed(doc: dict[str, Any]) -> dict[str, Any] | None:
    """``json.loads(dumps(doc))`` without the text: a deep copy of a document of plain
    dicts (``str`` keys), lists and ``_LEAVES``, equal to what parsing its JSON gives —
    same types, same key order, nothing shared with ``doc``. ``None`` when ``doc`` holds
    anything else (a tuple, a subclass, a non-``str`` key, deep nesting): the caller parses
    the text then. A document that passed the field checks is plain, so a new run's
    record is built without reading back the document it was just written from."""
    try:
        return _copy_dict(doc, 0)
    except _Unusual:
        return None


def _copy_dict(doc: dict[str, Any], depth: int) -> dict[str, Any]:
    if depth > _MAX_DEPTH or not _KEYS.issuperset(map(type, doc)):
        raise _Unusual
    if _LEAVES.issuperset(map(type, doc.values())):  # flat (a config, variables): in C
        return dict(doc)
    leaves = _LEAVES
    return {key: value if type(value) in leaves else _copy(value, depth + 1)
            for key, value in doc.items()}


def _copy(value: Any, depth: int) -> Any:
    kind = type(value)
    if kind in _LEAVES:
        return value
    if kind is dict:
        return _copy_dict(value, depth)
    if kind is list:
        if depth > _MAX_DEPTH:
            raise _Unusual
        if _LEAVES.issuperset(map(type, value)):
            return list(value)
        return [_copy(item, depth + 1) for item in value]
    raise _Unusual
