"""Run ids: UUIDv7 strings, so ids sort by creation time (RFC 9562, section 5.7)."""

from __future__ import annotations

import os
import threading
import time
import uuid

_lock = threading.Lock()
_last_ms = 0
_counter = 0

#: Random bytes are drawn from the OS this many at a time. A new run takes 10 for its id and
#: 16 for its batch's: one ``getrandom`` call each would release the GIL, and while another
#: thread of the process works (the one writing waiting runs) every release may cost the
#: caller that thread's whole turn. A forked child starts a pool of its own (``_forked``).
POOL_BYTES = 4096
_pool = b""
_pos = 0
_pool_lock = threading.Lock()


def random_bytes(n: int) -> bytes:
    """``n`` bytes from ``os.urandom``, taken from the process's pool (see ``POOL_BYTES``)."""
    global _pool, _pos
    with _pool_lock:
        if _pos + n > len(_pool):
            _pool, _pos = os.urandom(max(POOL_BYTES, n)), 0
        out = _pool[_pos:_pos + n]
        _pos += n
    return out


def _forked() -> None:
    """In a forked child: a pool of its own, never the parent's next bytes (which would make
    the same ids in both)."""
    global _pool, _pos, _pool_lock, _lock
    _pool, _pos = b"", 0
    _pool_lock = threading.Lock()
    _lock = threading.Lock()


os.register_at_fork(after_in_child=_forked)


def batch_id() -> str:
    """A new batch id: ``uuid.uuid4().hex`` (32 hex digits, version 4), from the pool."""
    raw = bytearray(random_bytes(16))
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    return raw.hex()


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
                _counter = int.from_bytes(random_bytes(2), "big") & 0x3FF
            counter = _counter
        else:
            counter = int.from_bytes(random_bytes(2), "big") & 0xFFF
    rand_b = int.from_bytes(random_bytes(8), "big") & ((1 << 62) - 1)
    value = (ms & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= (counter & 0xFFF) << 64
    value |= 0b10 << 62
    value |= rand_b
    digits = f"{value:032x}"  # as str(uuid.UUID(int=value)), without building one
    return (f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-"
            f"{digits[20:]}")


def id_time(run_id: str) -> float:
    """The creation time (epoch seconds) encoded in a UUIDv7 id."""
    return (uuid.UUID(run_id).int >> 80) / 1000.0
