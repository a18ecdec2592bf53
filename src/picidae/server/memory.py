"""The server process's allocator: glibc's defaults let a long-running server's RSS climb in
steps. Its mmap threshold rises after each large block is freed (a W1 batch body is megabytes),
so later large bodies land on the heap, whose freed pages it keeps; and each thread of the
request pool gets an arena of its own. ``tune_malloc`` fixes the threshold at 128 KiB and caps
the arenas at two, as ``MALLOC_MMAP_THRESHOLD_=131072 MALLOC_ARENA_MAX=2`` would (a soak:
benchmarks/RESULTS.md, issue 17). Elsewhere than glibc, or when either variable is set, it
leaves the allocator alone."""

from __future__ import annotations

import ctypes
import os
import sys

M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8


def tune_malloc() -> bool:
    """Apply the settings above to this process; whether they were applied."""
    if not sys.platform.startswith("linux") or any(
            name in os.environ for name in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_ARENA_MAX")):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl, ...)
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, 128 * 1024) == 1
                and mallopt(M_ARENA_MAX, 2) == 1)
