"""The background writer: one thread per process flushes every active run's buffer in
batches, at least every ``PICIDAE_FLUSH_INTERVAL_S`` (1 s), and sends heartbeats.

``Run.log`` only appends to a deque (no I/O, no lock on the caller's thread). A flush drains
the deque, packs points into columnar chunks per key and stage, and hands one ``Batch`` per run
to the store. Failures are logged as warnings and the batch is kept for the next tick: tracking
never breaks training. ``finish`` and interpreter exit flush synchronously.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from array import array
from typing import TYPE_CHECKING

from picidae.errors import PicidaeError
from picidae.settings import settings
from picidae.store.base import SeriesChunk

if TYPE_CHECKING:
    from picidae.sdk.run import Run

log = logging.getLogger("picidae")

MAX_FAILED_FLUSHES = 30


def pack_points(
    entries: list[tuple[int, float, str | None, dict[str, float]]],
) -> list[SeriesChunk]:
    """Columnar chunks, one per (key, stage), from ``(step, time, stage, values)`` entries."""
    groups: dict[tuple[str, str | None], SeriesChunk] = {}
    for step, t, stage, values in entries:
        for key, value in values.items():
            chunk = groups.get((key, stage))
            if chunk is None:
                chunk = groups[(key, stage)] = SeriesChunk(key, stage, array("q"), array("d"),
                                                           array("d"))
            chunk.steps.append(step)
            chunk.values.append(value)
            chunk.times.append(t)
    return list(groups.values())


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

    def active(self, run_id: str) -> Run | None:
        """The in-process run with this id, if it is still active."""
        return self._runs.get(run_id)

    def runs(self) -> list[Run]:
        """The active runs of this process."""
        with self._lock:
            return list(self._runs.values())

    def _loop(self) -> None:
        while True:
            interval = _flush_interval()
            self._wake.wait(interval)
            self._wake.clear()
            now = time.time()
            for run in self.runs():
                try:
                    run._flush()
                    run._maybe_heartbeat(now)
                except Exception as exc:  # never let the thread die; the run keeps its data
                    log.warning("picidae: writing run %s failed: %s", run.id, exc)


def _flush_interval() -> float:
    try:
        return settings().flush_interval_s
    except PicidaeError:
        return 1.0


_writer = Writer()


def writer() -> Writer:
    """The process's writer."""
    return _writer


def _after_fork() -> None:
    global _writer
    _writer = Writer()


os.register_at_fork(after_in_child=_after_fork)
