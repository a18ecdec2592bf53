"""Run ids: UUIDv7 strings, so ids sort by creation time (RFC 9562, section 5.7)."""

from __future__ import annotations

import os
import threading
import time
import uuid

_lock = threading.Lock()
_last_ms = 0
_counter = 0


def new_id(at: float | None = None) -> str:
    """A new UUIDv7 as a 36-character string, monotonic within this process.

    ``at`` (epoch seconds) sets the timestamp part, for records made with a past creation time.
    """
    global _last_ms, _counter
    ms = int((time.time() if at is None else at) * 1000)
    with _lock:
        if at is None:
            if ms <= _last_ms:
                # Same (or earlier, after a clock step) millisecond: bump a 12-bit counter so
                # ids stay strictly increasing within the process.
                _counter += 1
                if _counter > 0xFFF:
                    _last_ms += 1
                    _counter = 0
                ms = _last_ms
            else:
                _last_ms = ms
                _counter = int.from_bytes(os.urandom(2), "big") & 0x3FF
            counter = _counter
        else:
            counter = int.from_bytes(os.urandom(2), "big") & 0xFFF
    rand_b = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= (counter & 0xFFF) << 64
    value |= 0b10 << 62
    value |= rand_b
    return str(uuid.UUID(int=value))


def id_time(run_id: str) -> float:
    """The creation time (epoch seconds) encoded in a UUIDv7 id."""
    return (uuid.UUID(run_id).int >> 80) / 1000.0
