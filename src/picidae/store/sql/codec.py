"""How a metric chunk's columns are stored: raw little-endian arrays, or smaller where it pays.

``metric_chunks.codec`` says how to read a chunk's three blobs (``steps``, ``vals``,
``times``):

- ``0``: each blob is the raw little-endian array (int64 steps, float64 values and times).
  Every chunk written before migration 0010 is this; it stays readable as it is.
- ``1``: each blob starts with a format byte:

  - ``RAW`` (0): the raw array follows;
  - ``RUN`` (1), steps only: nothing follows; the steps are ``step_min, step_min + 1, ...``
    (the usual series, one point a step);
  - ``STRIDE`` (2), steps only: an int64 stride follows; the steps are ``step_min,
    step_min + stride, ...`` (a metric logged every k steps);
  - ``ZLIB`` (3): zlib of the array's bytes grouped by significance (byte 0 of every value,
    then byte 1, ...; "byte shuffling"), so the bytes that rarely change — a time's high
    bytes, a smooth curve's exponent — compress away. Written only when zlib keeps at most
    ``PAYS`` of the raw size, judged on a sample first so incompressible columns (noisy
    values) cost one small trial, not a whole compression.

Only the standard library is used, and each blob says its own format, so a reader never needs
to know which policy wrote it.
"""

from __future__ import annotations

import struct
import sys
import zlib
from array import array
from typing import Any

#: The ``codec`` column: 0 raw arrays (before migration 0010), 1 blobs with a format byte.
RAW_CODEC, TAGGED = 0, 1
RAW, RUN, STRIDE, ZLIB = 0, 1, 2, 3

#: What ``chunk_rows`` writes (``RAW_CODEC`` writes as before 0010: the benchmarks compare).
WRITE_CODEC = TAGGED
#: Whether ``TAGGED`` columns may be zlib-compressed (else only ``RUN``/``STRIDE`` steps).
COMPRESS = True
#: Compress a column only when zlib at least halves it. Measured (benchmarks/w5.py): a
#: 10,000-point column costs ~0.5 ms to compress and ~0.3 ms to read back compressed
#: (against ~0 raw), so a third off is not worth a slower W5; times (8 → ~0.4 bytes a point)
#: and smooth or repetitive values (counters, schedules, accuracies) pass, noisy losses not.
PAYS = 0.5
#: Points tried first to judge whether a column compresses (its first ones): the cost of a
#: column that does not.
SAMPLE = 512
#: zlib level: 1 is the fastest and, on shuffled floats, within a few percent of 9.
LEVEL = 1

_SWAP = sys.byteorder == "big"
_STRIDE = struct.Struct("<q")


def pack(values: array[Any]) -> bytes:
    """An array's little-endian bytes."""
    if _SWAP:
        values = array(values.typecode, values)
        values.byteswap()
    return values.tobytes()


def unpack(typecode: str, blob: Any) -> array[Any]:
    """The array of little-endian bytes ``blob`` (anything with the buffer protocol)."""
    out = array(typecode)
    out.frombytes(blob)
    if _SWAP:
        out.byteswap()
    return out


def _shuffle(raw: bytes) -> bytes:
    return b"".join([raw[i::8] for i in range(8)])


def _unshuffle(data: bytes, n: int) -> bytearray:
    out = bytearray(8 * n)
    view = memoryview(data)  # a plane is copied once, into ``out``, not sliced first
    for i in range(8):
        out[i::8] = view[i * n:(i + 1) * n]
    return out


def encode_column(values: array[Any]) -> bytes:
    """An 8-byte column as a ``TAGGED`` blob: ``ZLIB`` when it pays, else ``RAW``."""
    return encode_packed(pack(values))


def encode_packed(raw: bytes) -> bytes:
    """``encode_column`` of the column whose packed bytes (``pack``) are ``raw``."""
    n = len(raw) // 8
    if COMPRESS and n >= 64:
        if n > SAMPLE:  # a column that does not compress costs this small trial only
            head = raw[:8 * SAMPLE]
            if len(zlib.compress(_shuffle(head), LEVEL)) > PAYS * len(head):
                return bytes((RAW,)) + raw
        packed = zlib.compress(_shuffle(raw), LEVEL)
        if len(packed) <= PAYS * len(raw):
            return bytes((ZLIB,)) + packed
    return bytes((RAW,)) + raw


def encode_steps(steps: array[int], consecutive: bool, ordered: bool) -> bytes:
    """The steps as a ``TAGGED`` blob: ``RUN`` for consecutive steps, ``STRIDE`` for evenly
    spaced increasing ones, else as ``encode_column`` does."""
    if consecutive:
        return bytes((RUN,))
    n = len(steps)
    if ordered and n > 2:
        first, last = steps[0], steps[-1]
        stride = steps[1] - first
        if stride > 0 and last - first == stride * (n - 1) and steps == array(
                "q", range(first, last + 1, stride)):
            return bytes((STRIDE,)) + _STRIDE.pack(stride)
    return encode_column(steps)


def is_run(blob: Any, codec: int) -> bool:
    """Whether a steps blob is a ``RUN`` (its steps ``step_min`` onwards, one by one)."""
    return codec == TAGGED and blob[0] == RUN


def decode(typecode: str, blob: Any, n: int, codec: int, step_min: int = 0) -> array[Any]:
    """The ``n``-value array stored as ``blob`` under ``codec`` (``step_min``: the chunk's
    first step, for ``RUN`` and ``STRIDE``)."""
    if codec == RAW_CODEC:
        return unpack(typecode, blob)
    data = _data(typecode, blob, n, codec, step_min)
    return data if isinstance(data, array) else unpack(typecode, data)


#: One stored column of a chunk: ``(blob, n, codec, step_min)``, as ``decode`` takes them.
Part = tuple[Any, int, int, int]


def decode_parts(typecode: str, parts: list[Part]) -> array[Any]:
    """The columns of several chunks (``Part``s, in order) as one array, each decoded
    straight onto the end of it: no array per chunk joined afterwards. (A read allocates
    little else: fresh megabyte buffers cost page faults, not only copies.)"""
    if len(parts) == 1:
        return decode(typecode, *parts[0])
    out = array(typecode)
    for blob, n, codec, step_min in parts:
        data = blob if codec == RAW_CODEC else _data(typecode, blob, n, codec, step_min)
        out.frombytes(pack(data) if isinstance(data, array) else data)
    if _SWAP:
        out.byteswap()
    return out


def _data(typecode: str, blob: Any, n: int, codec: int, step_min: int) -> Any:
    """A ``TAGGED`` blob's little-endian bytes (any buffer), or for ``RUN`` and ``STRIDE``
    steps the array itself (native order)."""
    if codec != TAGGED:
        raise ValueError(f"metric chunk codec {codec} is unknown to this Picidae")
    view = memoryview(blob)
    tag = view[0]
    if tag == RAW:
        return view[1:]
    if tag == ZLIB:
        return _unshuffle(zlib.decompress(view[1:], bufsize=8 * n), n)
    if tag == RUN:
        return array(typecode, range(step_min, step_min + n))
    if tag == STRIDE:
        (stride,) = _STRIDE.unpack(view[1:9])
        return array(typecode, range(step_min, step_min + stride * n, stride))
    raise ValueError(f"metric chunk column format {tag} is unknown to this Picidae")
