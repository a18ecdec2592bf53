"""Downsampling a metric series for charts while keeping its peaks.

Min/max bucketing: the first and last points are kept (so a line spans the series), and the
points between are cut into ``(max_points - 2) // 2`` buckets of consecutive points, each
keeping its lowest and highest point (in step order). The global minimum and maximum always
survive, and so does every spike taller than its neighbourhood; the result never has more
than ``max_points`` points. Works on lists and on ``array('d')`` alike (the stores downsample
their packed arrays without building lists).
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Sequence
from functools import cache
from typing import Any


def minmax_indices(values: Sequence[float], max_points: int) -> list[int]:
    """Indices into ``values`` to keep (sorted), at most ``max_points`` of them."""
    n = len(values)
    if max_points <= 0:
        return []
    if n <= max_points:
        return list(range(n))
    if max_points == 1:
        return [_extreme(values, 0, n, max)]
    if max_points < 4:
        return [0, n - 1]
    buckets = (max_points - 2) // 2
    fast = _minmax_numpy(values, n - 2, buckets)
    if fast is not None:
        inner = fast
    elif not math.isnan(sum(values)):  # no NaN (NaN poisons a sum): min/max per bucket in C
        inner = _minmax_fast(values, n - 2, buckets)
    else:
        inner = []
        for b in range(buckets):
            lo = 1 + b * (n - 2) // buckets
            hi = 1 + (b + 1) * (n - 2) // buckets
            if lo >= hi:
                continue
            i_min = _extreme(values, lo, hi, min)
            i_max = _extreme(values, lo, hi, max)
            inner.extend(sorted({i_min, i_max}))
    return [0, *inner, n - 1]


@cache
def _numpy() -> Any:
    try:
        import numpy
    except ImportError:
        return None
    return numpy


def _minmax_numpy(values: Sequence[float], n: int, buckets: int) -> list[int] | None:
    # With NumPy installed (optional), the same picks as _minmax_fast a few times faster: on
    # a loaded machine the pure scan of 1,000,000 values is ~0.25 s of a chart's request.
    # None when NumPy is missing or the values hold NaN (the loop below skips NaN).
    np = _numpy()
    if np is None:
        return None
    if isinstance(values, array) and values.typecode == "d":
        arr = np.frombuffer(values, dtype=np.float64)
    else:
        arr = np.asarray(values, dtype=np.float64)
    if np.isnan(arr).any():
        return None
    keep: list[int] = []
    for b in range(buckets):
        lo = 1 + b * n // buckets
        hi = 1 + (b + 1) * n // buckets
        if lo >= hi:
            continue
        part = arr[lo:hi]
        i_min = lo + int(part.argmin())
        i_max = lo + int(part.argmax())
        keep.extend(sorted({i_min, i_max}))
    return keep


def _minmax_fast(values: Sequence[float], n: int, buckets: int) -> list[int]:
    # Same picks as the loop in minmax_indices (the first lowest and first highest of each
    # bucket of the n points after the first), with the scanning done by min(), max() and
    # index() in C: ~10x faster on a long series.
    keep: list[int] = []
    for b in range(buckets):
        lo = 1 + b * n // buckets
        hi = 1 + (b + 1) * n // buckets
        if lo >= hi:
            continue
        part = values[lo:hi]
        i_min = lo + part.index(min(part))
        i_max = lo + part.index(max(part))
        keep.extend(sorted({i_min, i_max}))
    return keep


def _extreme(values: Sequence[float], lo: int, hi: int, pick: object) -> int:
    best = lo
    best_v = None
    for i in range(lo, hi):
        v = values[i]
        if math.isnan(v):
            continue
        if best_v is None or (v < best_v if pick is min else v > best_v):
            best, best_v = i, v
    return best
