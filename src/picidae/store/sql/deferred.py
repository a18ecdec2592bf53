"""Runs created and ended in one commit: the SDK's short runs, written together.

``SqlStore.create_run_later`` gives the SDK a new run's record at once and keeps its rows
here, in this process, for a moment: the delay, ``PICIDAE_NEW_RUN_DELAY_S`` (default 0.05 s;
0 writes each new run at once, as ``create_run`` does). If the run ends before they are
written — a sweep's or an agent's short run: ``init``, a few ``log`` calls, ``finish`` —
``write_and_move`` adds its last batch and final state to them, and one transaction writes
the run from start to end. A committer thread writes whatever waits once per delay, many
runs in one transaction, so a loop making runs one after another pays for a commit once per
batch of runs, not twice per run (issue 17, W2).

Nothing else can tell: any other use of the store in this process — a read, a write, another
thread's — first writes what waits (``Deferred.settle``, called by every transaction), so a
program reads its own runs back as before; other processes see a new run within the delay.
A fork writes what waits first, and so does the interpreter's exit. What could not be
written (the database locked past its busy timeout by another process) waits for the next
try; at exit it is reported on the ``picidae`` logger, by run id.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from picidae.errors import StoreUnavailable
from picidae.settings import settings

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from picidae.core.states import State
    from picidae.store.base import Batch

log = logging.getLogger("picidae")

#: Seconds without a new run after which the committer thread ends.
IDLE_S = 10.0
#: Runs waiting at which the committer writes them without waiting out the delay.
MAX_WAITING = 500


@dataclass(slots=True)
class NewRun:
    """A new run's rows (``SqlStore._new_run``). Not its record: that is the caller's, and
    a run that waits keeps only what it is written from (its ``row`` says what an end is
    checked against), so the record goes when the program drops it."""

    run_id: str
    row: dict[str, Any]
    data: dict[str, Any]
    packages: Any
    moves: list[dict[str, Any]]
    created: float
    source: dict[str, Any]


@dataclass(slots=True)
class End:
    """A waiting run's last batch and final state (``write_and_move``'s arguments)."""

    batch: Batch
    target: State
    at: float
    reason: str | None
    actor: str | None
    failure: dict[str, Any] | None


@dataclass(slots=True)
class Waiting:
    """One run's rows waiting to be written, by the store (workspace) that made them."""

    new: NewRun
    #: The store (workspace) that made it.
    store: Any
    end: End | None = field(default=None)


class Deferred:
    """This process's waiting runs of one database (shared by a store's workspace copies)."""

    def __init__(self, begin_write: Callable[[], Any],
                 write: Callable[[Connection, list[Waiting]], None]) -> None:
        #: ``begin_write()`` opens a write transaction (a context manager of a connection);
        #: ``write(conn, waiting)`` writes waiting runs in it.
        self._begin_write = begin_write
        self._write_rows = write
        self._reset()
        _ALL.add(self)

    def _reset(self) -> None:
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        #: Serialises writing: a thread that settles waits for a commit under way.
        self._writing = threading.Lock()
        self._waiting: dict[str, Waiting] = {}
        self._thread: threading.Thread | None = None
        self._committer: int | None = None  # the thread inside a commit of ours

    def __bool__(self) -> bool:
        """Whether anything waits or is being written (read without the lock: a cheap
        check every transaction makes)."""
        return bool(self._waiting) or self._committer is not None

    def add(self, waiting: Waiting) -> None:
        """Keep a new run's rows until the next commit."""
        with self._lock:
            self._waiting[waiting.new.run_id] = waiting
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="picidae-runs",
                                                daemon=True)
                self._thread.start()
            if len(self._waiting) == 1 or len(self._waiting) >= MAX_WAITING:
                self._wake.notify()

    def get(self, run_id: str) -> Waiting | None:
        """``run_id``'s waiting rows, if they wait and have no end yet."""
        waiting = self._waiting.get(run_id)
        return waiting if waiting is not None and waiting.end is None else None

    def end(self, run_id: str, end: End) -> bool:
        """Add ``end`` to ``run_id``'s waiting rows; False when they are not waiting (then
        the caller writes the end itself)."""
        with self._lock:
            waiting = self._waiting.get(run_id)
            if waiting is None or waiting.end is not None:
                return False
            waiting.end = end
            return True

    def settle(self) -> None:
        """Write everything waiting now (a commit under way first), unless this thread is
        the one writing it."""
        if self._committer == threading.get_ident():
            return
        with self._writing:
            self._commit()

    def _commit(self) -> None:
        """Write what waits, in one transaction (the caller holds ``_writing``). When that
        fails, each run alone, so one run's error costs no other; runs the database
        refused for being busy wait for the next try."""
        with self._lock:
            if not self._waiting:
                return
            batch = list(self._waiting.values())
            # Marked before the list empties: a thread that finds nothing waiting then
            # sees the commit under way (``__bool__``) and waits for it in ``settle``.
            self._committer = threading.get_ident()
            self._waiting.clear()
        try:
            try:
                self._write(batch)
            except StoreUnavailable:
                self._put_back(batch)
                raise
            except Exception:
                if len(batch) == 1:
                    raise
                for i, one in enumerate(batch):
                    try:
                        self._write([one])
                    except StoreUnavailable:
                        self._put_back(batch[i:])  # this run and the ones after it wait
                        raise
                    except Exception as exc:  # not the caller's error: report and go on
                        log.error("picidae: run %s could not be recorded: %s",
                                  one.new.run_id, exc)
        finally:
            self._committer = None

    def _write(self, batch: list[Waiting]) -> None:
        with self._begin_write() as conn:
            self._write_rows(conn, batch)

    def _put_back(self, batch: list[Waiting]) -> None:
        with self._lock:
            self._waiting = {**{w.new.run_id: w for w in batch}, **self._waiting}

    def _loop(self) -> None:
        """The committer: wait for a run, give it the delay to end (and others to come),
        write them all; a busy database is tried again after the delay (0.05 s at least)."""
        while True:
            with self._lock:
                while not self._waiting:
                    if not self._wake.wait(IDLE_S):  # idle: ``add`` starts another
                        self._thread = None
                        return
                if len(self._waiting) < MAX_WAITING:
                    self._wake.wait(settings().new_run_delay_s)
            try:
                self.settle()
            except StoreUnavailable:
                with self._lock:
                    self._wake.wait(max(settings().new_run_delay_s, 0.05))
            except Exception:  # reported per run in _commit; the thread must live on
                log.exception("picidae: writing new runs failed")

    def report_left(self) -> None:
        """Write what waits; say which runs could not be written (at exit, on closing)."""
        try:
            self.settle()
        except Exception as exc:
            left = sorted(self._waiting)
            if left:
                log.error("picidae: %d run(s) could not be recorded before exit (%s): %s",
                          len(left), exc, ", ".join(left))


#: How many store transactions this thread has open (``SqlBase._open_tx``): a transaction
#: opened inside another does not write waiting runs first (its own connection would wait on
#: the outer one's locks).
_open = threading.local()


def in_transaction() -> bool:
    """Whether this thread is inside one of the store's transactions."""
    return getattr(_open, "depth", 0) > 0


#: Every ``Deferred`` of this process: settled before a fork and at exit.
_ALL: weakref.WeakSet[Deferred] = weakref.WeakSet()


def settle_all() -> None:
    """Write every store's waiting runs (at exit; before a fork)."""
    for deferred in list(_ALL):
        if deferred:
            deferred.report_left()


def _before_fork() -> None:
    # Not from inside a transaction: writing needs the write lock it may hold.
    if not in_transaction():
        settle_all()


def _after_fork_in_child() -> None:
    # The parent writes what waited (it settled before the fork); the child starts afresh.
    for deferred in list(_ALL):
        deferred._reset()


atexit.register(settle_all)
os.register_at_fork(before=_before_fork, after_in_child=_after_fork_in_child)
