"""The JSON text of stored documents (run data, event payloads, package sets, queue specs).

One encoder, made once: ``json.dumps`` with any argument but the defaults builds a new
``JSONEncoder`` on every call, which cost W2's committer ~3 µs per event row (issue 17).
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
