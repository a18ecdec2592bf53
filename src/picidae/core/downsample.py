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
from collections.abc import Sequence


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
    if not math.isnan(sum(values)):  # no NaN (NaN poisons a sum): C-speed min/max per bucket
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


def _minmax_fast(values: Sequence[float], n: int, buckets: int) -> list[int]:
    # Same picks as the loop above (the first lowest and first highest of each bucket of the
    # n points after the first), with the scanning done by min(), max() and index() in C:
    # ~10x faster on a long series.
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
