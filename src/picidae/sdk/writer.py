"""The background writer: one thread per process flushes every active run's buffer in
batches, at least every ``PICIDAE_FLUSH_INTERVAL_S`` (0.5 s, on a fixed schedule), and sends
heartbeats (waking as often as the shortest heartbeat interval asks).

``Run.log`` only appends to a list (no I/O, no lock on the caller's thread). A flush takes
what is there, packs points into columnar chunks per key and stage, and hands one ``Batch`` per run
to the store. A batch the store does not take waits in the run's outbox (``sdk.outbox``:
retried with backoff, spilled to disk past ``PICIDAE_BUFFER_MB``, never dropped): tracking
never breaks training. ``finish`` and interpreter exit flush synchronously.
"""

from __future__ import annotations

import logging
import os
import struct
import sys
import threading
import time
from array import array
from itertools import chain
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from picidae.errors import PicidaeError
from picidae.sdk import system
from picidae.settings import settings
from picidae.store.base import SeriesChunk

if TYPE_CHECKING:
    from picidae.sdk.run import Run

log = logging.getLogger("picidae")

#: A buffered metric point: ``(step, time, stage, values, keys)``, where ``keys`` lists the
#: values' keys in the dict's own order (``Run.log`` has it from its check, for free), so
#: packing knows the column order without looking at every dict. Values are floats, or
#: values ``Run.log``'s fast path keeps (ints, bools, NumPy scalars: ``plain_types``) that
#: packing converts as ``metric_value`` does.
Point = tuple[int, float, str | None, dict[str, float], list[str]]

#: How many key orders a run remembers for ``Run.log``'s fast path (a program that logs ever
#: new orders takes the careful path for the rest, correctly).
MAX_ORDERS = 1024
#: A key order ``Run.log`` has seen: the key list every point of that order shares, the value
#: types of its last careful call (when ``plain_types``: values the flush converts exactly
#: as ``metric_value`` does), and whether one is an ``int`` (whose size must be checked:
#: past 2**1024 no float holds it).
Order = tuple[list[str], list[type], bool]
NO_ORDER: Order = ([], [], False)
#: Value types a remembered order may hold (any other type takes the careful path).
PLAIN_TYPES = frozenset((float, int, bool))
#: NumPy's scalar types that convert to a float (``struct``, ``array``) exactly as
#: ``metric_value`` converts them (through ``.item()``); ``longdouble`` is refused there,
#: so it is not one of them.
_NUMPY_PLAIN = ("float64", "float32", "float16", "int8", "int16", "int32", "int64", "uint8",
                "uint16", "uint32", "uint64", "bool_")
_numpy_types: frozenset[type] | None = None


def plain_types(types: list[type]) -> bool:
    """Whether values of ``types`` may be kept as they are for the flush to convert: plain
    floats, ints and bools, and NumPy's float, int and bool scalars (when NumPy is loaded)."""
    global _numpy_types
    if PLAIN_TYPES.issuperset(types):
        return True
    np = sys.modules.get("numpy")
    if np is None:
        return False
    if _numpy_types is None:
        _numpy_types = frozenset(getattr(np, name) for name in _NUMPY_PLAIN)
    return (PLAIN_TYPES | _numpy_types).issuperset(types)


def floats_fit(values: Any) -> bool:
    """Whether every int among ``values`` (plain floats, ints and bools) converts to a float:
    ``sum`` over floats converts each int as ``float()`` does, and fails as it fails."""
    try:
        sum(values, 0.0)
    except OverflowError:
        return False
    return True


_STEP = itemgetter(0)
_TIME = itemgetter(1)
_STAGE = itemgetter(2)
_VALUES = itemgetter(3)
_KEYS = itemgetter(4)


def pack_points(entries: list[Point]) -> list[SeriesChunk]:
    """Columnar chunks, one per (key, stage), from buffered points.

    Points with the same stage and keys in the same order (a training loop's usual shape)
    form a segment: its values, read row by row into one flat array, are each key's column
    at a stride, so the per-point work happens in C rather than in Python. The keys of a
    segment share its steps and times arrays (a chunk that grows gets its own): fewer
    objects per batch, and fewer for the cyclic collector to walk while a batch waits.
    """
    if len(entries) == 1:  # a short run's one ``log`` call: a chunk per key, one point each
        step, at, stage, point, keys = entries[0]
        steps, times = _packed("q", [step]), _packed("d", [at])
        flat = _packed("d", list(point.values()))
        if len(keys) == 1:
            return [SeriesChunk(keys[0], stage, steps, flat, times)]
        return [SeriesChunk(key, stage, steps, flat[col:col + 1], times)
                for col, key in enumerate(keys)]
    chunks: dict[tuple[str, str | None], SeriesChunk] = {}
    owned: set[int] = set()  # chunks given arrays of their own (on growing once)
    for segment in _segments(entries):
        stage = segment[0][2]
        keys = segment[0][4]
        steps = _packed("q", list(map(_STEP, segment)))
        times = _packed("d", list(map(_TIME, segment)))
        width = len(keys)
        flat = _packed("d", list(chain.from_iterable(map(dict.values, map(_VALUES, segment)))))
        for col, key in enumerate(keys):
            values = flat[col::width] if width > 1 else flat
            chunk = chunks.get((key, stage))
            if chunk is None:
                chunks[(key, stage)] = SeriesChunk(key, stage, steps, values, times)
            else:
                if id(chunk) not in owned:  # its arrays may be another key's too
                    owned.add(id(chunk))
                    chunk.steps, chunk.times = array("q", chunk.steps), array("d", chunk.times)
                    chunk.values = array("d", chunk.values)
                chunk.steps.extend(steps)
                chunk.values.extend(values)
                chunk.times.extend(times)
    return list(chunks.values())


def _packed(typecode: str, items: list[Any]) -> array[Any]:
    """``array(typecode, items)``, converted through ``struct`` (its C conversion costs a
    fraction of the array constructor's, which parses a format for every item: 100,000
    floats in ~0.7 ms against ~2.5 ms). Both accept the same values; anything ``struct``
    refuses goes to the constructor, which raises as it always did."""
    out = array(typecode)
    try:
        out.frombytes(struct.pack(f"{len(items)}{typecode}", *items))
    except struct.error:
        return array(typecode, items)
    return out


def _segments(entries: list[Point]) -> list[list[Point]]:
    """``entries`` as runs of points that share a stage and key list, each in log order.

    One stage and one key list throughout (checked in C) is one segment. Otherwise points
    are gathered by (key list, stage) — a loop that alternates stages or key sets makes two
    long segments, not thousands of one-point ones — when no (key, stage) column would take
    points from two gatherings (their interleaving, which decides the latest point at a
    step, is then kept by the column's own order); else they are cut where either changes.
    """
    n = len(entries)
    if not n:
        return []
    keys, stage = entries[0][4], entries[0][2]
    if (list(map(_KEYS, entries)).count(keys) == n
            and list(map(_STAGE, entries)).count(stage) == n):
        return [entries]
    gathered: dict[tuple[int, str | None], list[Point]] = {}
    for entry in entries:
        into = gathered.get((id(entry[4]), entry[2]))
        if into is None:
            gathered[(id(entry[4]), entry[2])] = [entry]
        else:
            into.append(entry)
    columns: set[tuple[str, str | None]] = set()
    for group in gathered.values():
        mine = {(key, group[0][2]) for key in group[0][4]}
        if not columns.isdisjoint(mine):
            break  # a column fed by two gatherings: keep the order points came in
        columns |= mine
    else:
        return list(gathered.values())
    out: list[list[Point]] = []
    i = 0
    while i < n:
        keys, stage = entries[i][4], entries[i][2]
        j = i + 1
        while j < n and entries[j][2] == stage and entries[j][4] == keys:
            j += 1
        out.append(entries[i:j])
        i = j
    return out


class Writer:
    """The process's background writer (see the module docstring)."""

    def __init__(self) -> None:
        self._runs: dict[str, Run] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()

    def register(self, run: Run) -> None:
        """Start flushing (and heartbeating) ``run``."""
        with self._lock:
            self._runs[run.id] = run
            if self._thread is None or not self._thread.is_alive() or self._pid != os.getpid():
                self._pid = os.getpid()
                self._thread = threading.Thread(target=self._loop, name="picidae-writer",
                                                daemon=True)
                self._thread.start()

    def unregister(self, run: Run) -> None:
        """Stop tracking ``run`` (after its final flush)."""
        with self._lock:
            self._runs.pop(run.id, None)
        system.forget(run.id)

    def active(self, run_id: str) -> Run | None:
        """The in-process run with this id, if it is still active."""
        return self._runs.get(run_id)

    def runs(self) -> list[Run]:
        """The active runs of this process."""
        with self._lock:
            return list(self._runs.values())

    def _loop(self) -> None:
        # Flushes start on a fixed schedule (a deadline, not a pause after each write), so
        # the time between two flushes never grows by how long a write took: a SIGKILLed
        # process loses at most one interval plus one write of points.
        due = time.monotonic()
        while True:
            runs = self.runs()
            tick = min([_flush_interval(), *(r._heartbeat_interval for r in runs)])
            due = max(due + tick, time.monotonic())  # behind schedule: no burst to catch up
            self._wake.wait(max(0.0, due - time.monotonic()))
            self._wake.clear()
            now = time.time()
            clock = time.monotonic()
            for run in self.runs():
                try:
                    system.tick(run, clock)  # never raises
                    run._flush(scheduled=True)
                    run._maybe_heartbeat(now)
                except Exception as exc:  # never let the thread die; the run keeps its data
                    log.warning("picidae: writing run %s failed: %s", run.id, exc)


def _flush_interval() -> float:
    try:
        return settings().flush_interval_s
    except PicidaeError:
        return 0.5


_writer = Writer()


def writer() -> Writer:
    """The process's writer."""
    return _writer


def _after_fork() -> None:
    global _writer
    _writer = Writer()


os.register_at_fork(after_in_child=_after_fork)
