"""A run's outbox: batches on their way to the store, never silently dropped.

A batch the store does not take (a server that is down, a locked database) waits here and is
retried with backoff (the writer's flush interval, doubling to ``MAX_BACKOFF_S``, with
jitter). Waiting batches stay in memory up to ``PICIDAE_BUFFER_MB`` (default 256) for the
whole process; past that the oldest spill to the run's spool on disk (``sdk.spool``), and
while a spool holds anything, it is sent first, so the store applies batches in the order the
program made them. A batch the store refuses for good (a revoked token, a deleted run) is set
aside in the spool, with an error on the ``picidae`` logger, and the rest go on. A run that
has ended (``RunFinished``: another process finished or canceled it) takes nothing more:
the outbox warns once, drops what waits and what comes after, and never retries.

``Run.finish`` drains the outbox for up to ``PICIDAE_FINISH_TIMEOUT_S`` (default 60), then
spools what is left and says, on the ``picidae`` logger and on stderr, what was not sent and
where it is kept; ``picidae sync`` uploads it later.
"""

from __future__ import annotations

import logging
import random
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from picidae.errors import PicidaeError, RunFinished, StoreUnavailable
from picidae.settings import settings
from picidae.store.base import Batch, Store

if TYPE_CHECKING:
    from picidae.sdk.spool import Spool

log = logging.getLogger("picidae")

#: The longest pause between two tries of a store that keeps failing.
MAX_BACKOFF_S = 10.0
#: Pauses between tries while ``finish`` waits: short, so a store that is back is seen soon.
DRAIN_PAUSE_S = (0.1, 2.0)


class _Budget:
    """The bytes of waiting batches held in memory by every run of the process."""

    def __init__(self) -> None:
        self.used = 0
        self._lock = threading.Lock()

    def add(self, n: int) -> None:
        with self._lock:
            self.used += n

    def limit(self) -> int:
        try:
            return int(settings().buffer_mb * 1024 * 1024)
        except PicidaeError:
            return 256 * 1024 * 1024


budget = _Budget()


def batch_bytes(batch: Batch) -> int:
    """Roughly what a batch holds in memory: 24 bytes a point, a log line's text and
    object, a little for the rest."""
    return (24 * batch.n_points() + sum(len(ln.text) + 96 for ln in batch.logs) + 512
            + 64 * (len(batch.config) + len(batch.summary) + len(batch.fields)
                    + len(batch.outputs)))


def transient(exc: BaseException) -> bool:
    """Whether retrying later may succeed: the store is away, or something unexpected broke
    (not a refusal of the batch itself)."""
    return isinstance(exc, StoreUnavailable) or not isinstance(exc, PicidaeError)


class Outbox:
    """One run's waiting batches (see the module docstring). Its run's flush lock guards
    every call."""

    def __init__(self, run_id: str, store: Store, name: str | None = None, *,
                 after_end: Callable[[Batch], bool] | None = None,
                 fresh: bool = False) -> None:
        from picidae.sdk.spool import Spool, spool_root

        self.run_id = run_id
        self.store = store
        self.name = name
        #: Which batches are still sent once the run has ended (the worker's epilogue:
        #: ``store.lifecycle.is_epilogue``); by default none.
        self.after_end = after_end
        self.memory: deque[tuple[Batch, int]] = deque()
        # What an earlier process of this run left; a run this process just created
        # (``fresh``) has nothing there, so its spool is only made when first needed.
        self._spool: Spool | None = None if fresh else Spool.open(run_id)
        self._spool_root = spool_root()
        self.failures = 0
        self.retry_at = 0.0
        self.last_error: str | None = None
        #: Set when the store said the run has ended: nothing more is sent.
        self.finished: RunFinished | None = None
        self._spill_failed = False

    @property
    def spool(self) -> Spool:
        """The run's spool (see ``__init__``)."""
        if self._spool is None:
            from picidae.sdk.spool import Spool

            self._spool = Spool(self._spool_root / self.run_id, self.run_id)
        return self._spool

    # -- state ----------------------------------------------------------------------------

    def empty(self) -> bool:
        """Nothing waits to be sent (set-aside entries do not count)."""
        return not self.memory and (self._spool is None or not self._spool.pending())

    def due(self, now: float) -> bool:
        """Whether the backoff allows a try now."""
        return now >= self.retry_at

    # -- adding ---------------------------------------------------------------------------

    def put(self, batch: Batch) -> None:
        """Queue a batch behind everything already waiting (dropped once the run has
        ended: see ``_ended``)."""
        if batch.empty():
            return
        if self.finished is not None and (self.after_end is None or not self.after_end(batch)):
            return
        size = batch_bytes(batch)
        self.memory.append((batch, size))
        budget.add(size)
        if self.failures:
            self._bound()

    def _bound(self) -> None:
        """Past the memory bound, spill (to half of it, so spilling comes in runs)."""
        if budget.used > budget.limit():
            self._spill(keep_bytes=budget.limit() // 2)

    def _spill(self, keep_bytes: int = 0) -> None:
        """Move this run's oldest in-memory batches to its spool until the process holds
        at most ``keep_bytes`` (0: all of them)."""
        while self.memory and (keep_bytes == 0 or budget.used > keep_bytes):
            batch, size = self.memory[0]
            try:
                self.spool.add_batch(batch, self.store, self.name)
            except OSError as exc:
                if not self._spill_failed:
                    self._spill_failed = True
                    log.error("picidae: cannot spool run %s to %s (%s); keeping its %d "
                              "waiting batches in memory", self.run_id, self.spool.folder,
                              exc, len(self.memory))
                return
            self.memory.popleft()
            budget.add(-size)

    def spill_all(self) -> None:
        """Spool every batch still in memory (when ``finish`` gives up waiting)."""
        self._spill()

    def keep_end(self, to: str, reason: str | None, failure: dict[str, Any] | None,
                 at: float) -> None:
        """Spool the run's final transition, which the store could not take: behind the
        batches, so ``picidae sync`` makes it after them."""
        self.spill_all()
        try:
            self.spool.add_end(to, reason, failure, at, self.store, self.name)
        except OSError as exc:
            log.error("picidae: cannot spool the final transition (to %s) of run %s: %s",
                      to, self.run_id, exc)

    # -- sending --------------------------------------------------------------------------

    def send(self, now: float | None = None) -> bool:
        """Send waiting batches, spool first, until one fails; True when none is left."""
        from picidae.sdk.spool import send_entry

        while True:
            pending = self.spool.pending()
            try:
                if pending:
                    entry = pending[0]
                    send_entry(self.store, self.run_id, entry)
                    self.spool.remove(entry)
                elif self.memory:
                    batch, size = self.memory[0]
                    self.store.write(self.run_id, batch)
                    self.memory.popleft()
                    budget.add(-size)
                else:
                    break
            except RunFinished as exc:
                self.run_finished(exc)
                break
            except Exception as exc:
                if transient(exc):
                    self._failed(exc, time.time() if now is None else now)
                    return False
                self._refused(exc, pending[0] if pending else None)
        if self.failures:
            log.warning("picidae: run %s: the store is back; everything waiting was sent",
                        self.run_id)
        self.failures, self.retry_at, self.last_error = 0, 0.0, None
        return True

    def _failed(self, exc: BaseException, now: float) -> None:
        self.failures += 1
        self.last_error = str(exc) or type(exc).__name__
        self._bound()
        try:
            base = settings().flush_interval_s
        except PicidaeError:
            base = 0.5
        delay = min(MAX_BACKOFF_S, base * 2 ** min(self.failures - 1, 10))
        self.retry_at = now + delay * random.uniform(0.8, 1.2)
        if self.failures == 1:
            log.warning("picidae: could not write run %s (kept; retrying with backoff): %s",
                        self.run_id, self.last_error)
        else:
            log.debug("picidae: run %s: try %d failed: %s", self.run_id, self.failures,
                      self.last_error)

    def run_finished(self, exc: RunFinished) -> None:
        """The run has ended elsewhere: warn once, drop everything waiting (a write to an
        ended run is refused by every store, so retrying would only spin)."""
        points = sum(b.n_points() for b, _ in self.memory)
        lines = sum(len(b.logs) for b, _ in self.memory)
        budget.add(-sum(size for _, size in self.memory))
        self.memory.clear()
        for entry in self.spool.pending():
            points, lines = points + entry.points, lines + entry.lines
            self.spool.remove(entry)
        first, self.finished = self.finished is None, exc
        if first:
                log.warning("picidae: %s; dropping what this process still records for it (%d "
                        "metric points and %d log lines so far)", exc, points, lines)

    def _refused(self, exc: BaseException, entry: Any) -> None:
        """The store refused the head batch for good: set it aside in the spool."""
        if entry is not None:
            self.spool.reject(entry)
            where = entry.path
        else:
            batch, size = self.memory.popleft()
            budget.add(-size)
            try:
                spooled = self.spool.add_batch(batch, self.store, self.name)
                self.spool.reject(spooled)
                where = spooled.path
            except OSError as err:  # nowhere to keep it: say so loudly, with its contents
                log.error("picidae: run %s: the store refused a batch (%s) and it cannot be "
                          "spooled (%s): %d points and %d log lines are lost", self.run_id,
                          exc, err, batch.n_points(), len(batch.logs))
                return
        log.error("picidae: run %s: the store refused a batch (%s); it is kept in %s — fix "
                  "the cause, then run 'picidae sync'", self.run_id, exc, where)

    def drain(self, timeout: float, flush: Any) -> bool:
        """Call ``flush`` (which sends) until nothing waits or ``timeout`` seconds pass; True
        when everything was sent."""
        deadline = time.monotonic() + timeout
        pause = DRAIN_PAUSE_S[0]
        while True:
            flush()
            if self.empty():
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            time.sleep(min(pause, left))
            pause = min(pause * 2, DRAIN_PAUSE_S[1])

    # -- reporting ------------------------------------------------------------------------

    def report(self) -> bool:
        """After ``finish``: spool whatever is still in memory and, when anything is left,
        say what and where (the ``picidae`` logger, and stderr). True when nothing is."""
        if self._spool is None and not self.memory:
            return True  # nothing was ever spooled, nothing is left to spool
        self.spill_all()
        batches, points, lines, has_end = self.spool.totals()
        if not batches and not has_end:
            return True
        what = [f"{points:,} metric points", f"{lines:,} log lines"]
        what.append(f"in {batches} batches" if batches != 1 else "in 1 batch")
        if has_end:
            what.append("and the run's final transition")
        store = self.store.url or "the store"
        why = f" ({self.last_error})" if self.last_error else ""
        rejected = sum(e.rejected for e in self.spool.entries)
        refused = f"; {rejected} of them refused by the store" if rejected else ""
        message = (f"picidae: run {self.run_id}: {', '.join(what[:2])} {what[2]}"
                   f"{' ' + what[3] if has_end else ''} were not sent to {store}{why}"
                   f"{refused}. They are kept in {self.spool.folder}; run 'picidae sync' "
                   "to upload them")
        log.warning(message)
        if log.hasHandlers():  # without handlers, logging's last resort prints it already
            print(message, file=sys.stderr, flush=True)
        return False
