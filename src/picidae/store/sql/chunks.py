"""Packing metric points into chunk rows and reading them back.

A chunk holds one run's points for one key and stage as three columns (steps, values,
times), each stored as ``store/sql/codec.py`` says: raw arrays, or smaller where it pays.
Reading a series concatenates its chunks and sorts by step only when the chunks are not
already in order (the common case, steps logged increasingly, never sorts).
"""

from __future__ import annotations

import math
from array import array
from bisect import bisect_right
from collections.abc import Iterable
from itertools import islice
from operator import le
from typing import Any

from picidae.core.downsample import minmax_indices
from picidae.store.base import SeriesChunk
from picidae.store.series import Deferred, MetricSeries, StageRuns, stage_runs
from picidae.store.sql import codec

MAX_CHUNK = 65536


#: What ``chunk_rows`` learns of a chunk's steps, kept across the keys of one batch:
#: ``(ordered, step_min, step_max, the stored steps blob)``.
StepsInfo = tuple[bool, int, int, bytes]


#: The ``metric_chunks`` columns, in the order ``chunk_tuples`` gives their values.
CHUNK_COLUMNS = ("run_id", "key", "stage", "n", "step_min", "step_max", "ordered", "steps",
                 "vals", "times", "codec")
_RAW_TAG, _RUN_TAG = bytes((codec.RAW,)), bytes((codec.RUN,))


def chunk_rows(run_id: str, chunk: SeriesChunk,
               memo: dict[bytes, StepsInfo] | None = None,
               columns: dict[bytes, bytes] | None = None) -> list[dict[str, Any]]:
    """The rows to insert for a chunk (split at ``MAX_CHUNK`` points), its columns encoded
    as ``codec.WRITE_CODEC`` says (see ``store/sql/codec.py``). ``memo`` keeps the order
    check and the encoded steps across the chunks of one batch: a training loop's keys share
    their steps, so both are done once, not once per key. ``columns`` does the same for the
    times (packed bytes → encoded blob): keys logged in one call share their times, and
    compressing them is most of the encoding's cost."""
    return [dict(zip(CHUNK_COLUMNS, row, strict=True))
            for row in chunk_tuples(run_id, chunk, memo, columns)]


def chunk_tuples(run_id: str, chunk: SeriesChunk,
                 memo: dict[bytes, StepsInfo] | None = None,
                 columns: dict[bytes, bytes] | None = None) -> list[tuple[Any, ...]]:
    """``chunk_rows`` as tuples of ``CHUNK_COLUMNS``' values (as ``Prepared.run_rows``
    takes them)."""
    n = len(chunk.steps)
    tagged = codec.WRITE_CODEC == codec.TAGGED
    if n == 1 and tagged:  # a final value: a RUN of one step, two raw values
        step = chunk.steps[0]
        return [(run_id, chunk.key, chunk.stage, 1, step, step, 1, _RUN_TAG,
                 _RAW_TAG + codec.pack(chunk.values), _RAW_TAG + codec.pack(chunk.times),
                 codec.TAGGED)]
    rows = []
    for lo in range(0, n, MAX_CHUNK):
        whole = lo == 0 and n <= MAX_CHUNK  # the usual chunk: no slice copies
        steps = chunk.steps if whole else chunk.steps[lo:lo + MAX_CHUNK]
        packed = codec.pack(steps)
        known = memo.get(packed) if memo is not None else None
        if known is None:
            ordered, step_min, step_max, consecutive = _order(steps)
            blob = codec.encode_steps(steps, consecutive, ordered) if tagged else packed
            known = (ordered, step_min, step_max, blob)
            if memo is not None:
                memo[packed] = known
        ordered, step_min, step_max, blob = known
        values = chunk.values if whole else chunk.values[lo:lo + MAX_CHUNK]
        times = chunk.times if whole else chunk.times[lo:lo + MAX_CHUNK]
        rows.append((run_id, chunk.key, chunk.stage, len(steps), step_min, step_max,
                     int(ordered), blob,
                     codec.encode_column(values) if tagged else codec.pack(values),
                     _times_blob(times, columns) if tagged else codec.pack(times),
                     codec.WRITE_CODEC))
    return rows


def _times_blob(times: array[float], columns: dict[bytes, bytes] | None) -> bytes:
    """``codec.encode_column(times)``, once per distinct times column when ``columns``
    remembers them."""
    raw = codec.pack(times)
    if columns is None:
        return codec.encode_packed(raw)
    blob = columns.get(raw)
    if blob is None:
        blob = columns[raw] = codec.encode_packed(raw)
    return blob


def _order(steps: array[int]) -> tuple[bool, int, int, bool]:
    """Whether steps are non-decreasing, their least and greatest step, and whether they are
    consecutive (``step_min``, ``step_min + 1``, ...)."""
    # Consecutive steps (the usual case) compare as one array, in C.
    first, last = steps[0], steps[-1]
    consecutive = (last - first == len(steps) - 1
                   and steps == array("q", range(first, last + 1)))
    if consecutive or all(map(le, steps, islice(steps, 1, None))):
        return True, first, last, consecutive
    return False, min(steps), max(steps), False


def latest_point(chunk: SeriesChunk, top: int | None = None,
                 ) -> tuple[int, float, float, str | None]:
    """The chunk's latest point: the highest step (``top``, when the caller knows it from
    ``chunk_rows``), the last one written at that step."""
    steps = chunk.steps
    if top is None:
        top = max(steps)
    best = len(steps) - 1
    if steps[best] != top:  # not the usual increasing steps: the last occurrence of the top
        best -= steps[::-1].index(top)
    return steps[best], chunk.values[best], chunk.times[best], chunk.stage


def best_point(values: Iterable[float], steps: Iterable[int],
               mode: str) -> tuple[float, int] | None:
    """The best (max or min) non-NaN value and its step; the earliest step wins ties."""
    best: tuple[float, int] | None = None
    for value, step in zip(values, steps, strict=True):
        if math.isnan(value):
            continue
        if best is None or (value > best[0] if mode == "max" else value < best[0]):
            best = (value, step)
    return best


def read_series(key: str, rows: Iterable[Any], max_points: int | None = None) -> MetricSeries:
    """A ``MetricSeries`` from chunk rows ordered by id, kept as the decoded arrays (no Python
    object per point); with ``max_points``, downsampled (``minmax_indices``) straight from
    the packed arrays. A whole series (the usual read) keeps its times encoded until they
    are asked for (``Deferred``): reading its steps, values or length never decodes them."""
    steps = array("q")
    value_parts: list[codec.Part] = []
    time_parts: list[codec.Part] = []
    runs: StageRuns = []  # (first index, stage)
    in_order = True
    last_max: int | None = None
    n = 0
    # Consecutive steps all along (each chunk a RUN following the last): a range, never
    # decoded. ``span`` is that range while it lasts; ``steps`` holds the decoded ones after.
    span: range | None = range(0)
    for row in rows:
        if not runs or runs[-1][1] != row.stage:
            runs.append((n, row.stage))
        n += row.n
        if (span is not None and codec.is_run(row.steps, row.codec)
                and (not span or row.step_min == span.stop)):
            span = range(row.step_min if not span else span.start, row.step_min + row.n)
        else:
            if span is not None:
                steps.extend(span)
                span = None
            steps.extend(codec.decode("q", row.steps, row.n, row.codec, row.step_min))
        value_parts.append((row.vals, row.n, row.codec, 0))
        time_parts.append((_kept(row.times), row.n, row.codec, 0))
        if not row.ordered or (last_max is not None and row.step_min < last_max):
            in_order = False
        last_max = row.step_max if last_max is None else max(last_max, row.step_max)
    values = codec.decode_parts("d", value_parts)
    whole = max_points is None or n <= max_points
    if whole and (span is not None or in_order):
        return MetricSeries.from_arrays(key, steps if span is None else span, values,
                                        Deferred(codec.decode_parts, "d", time_parts), runs)
    times = codec.decode_parts("d", time_parts)
    if span is not None:
        steps = array("q", span)
    if in_order:
        keep: list[int] = minmax_indices(values, max_points or n)
    else:
        keep = sorted(range(n), key=steps.__getitem__)
        if max_points is not None and n > max_points:
            ordered = array("d", map(values.__getitem__, keep))
            keep = [keep[i] for i in minmax_indices(ordered, max_points)]
    starts = [start for start, _ in runs]
    stages = [runs[bisect_right(starts, i) - 1][1] for i in keep]
    return MetricSeries.from_arrays(key, array("q", map(steps.__getitem__, keep)),
                                    array("d", map(values.__getitem__, keep)),
                                    array("d", map(times.__getitem__, keep)),
                                    stage_runs(stages), total=n)


def _kept(blob: Any) -> bytes:
    """A blob a series may keep (and pickle) until it decodes it: the driver's ``bytes`` as
    they are, anything else (a ``memoryview``) copied."""
    return blob if isinstance(blob, bytes) else bytes(blob)
