"""A run's background work: artifact uploads, input digests and slow reproducibility capture.

Jobs run on one small thread pool per process (``PICIDAE_UPLOAD_WORKERS``, default 4), so
``log_artifact`` returns at once and training never waits. Each step that touches storage is
retried (``ATTEMPTS`` times, with a growing pause); a job that still fails is reported on the
run — a line on the ``picidae`` log stream, an entry in the run's ``warnings`` and a warning
on the ``picidae`` logger — and never silently dropped. ``Run.finish`` (and ``fail``,
``cancel``, interpreter exit) waits until every job of the run is done.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from picidae.core.run import LogLine
from picidae.errors import RunFinished

if TYPE_CHECKING:
    from concurrent.futures import Future, ThreadPoolExecutor

    from picidae.artifacts.base import ArtifactStore
    from picidae.sdk.run import Run

log = logging.getLogger("picidae")

#: Tries per storage step before a job is reported as failed, and the first pause (doubled
#: after each failed try).
ATTEMPTS = 3
RETRY_DELAY_S = 0.5

T = TypeVar("T")

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def pool() -> ThreadPoolExecutor:
    """The process's upload pool (created on first use)."""
    global _pool
    with _pool_lock:
        if _pool is None:
            from concurrent.futures import ThreadPoolExecutor

            workers = int(os.environ.get("PICIDAE_UPLOAD_WORKERS") or 4)
            _pool = ThreadPoolExecutor(max_workers=max(1, workers),
                                       thread_name_prefix="picidae-upload")
        return _pool


def _after_fork() -> None:
    global _pool, _pool_lock
    _pool = None
    _pool_lock = threading.Lock()


os.register_at_fork(after_in_child=_after_fork)


def retry(what: str, fn: Callable[[], T]) -> T:
    """``fn()``, tried up to ``ATTEMPTS`` times; the last failure is raised. ``RunFinished``
    is raised at once: the run ended elsewhere (a cancel), and asking again will not
    change that."""
    delay = RETRY_DELAY_S
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return fn()
        except RunFinished:
            raise
        except Exception as exc:
            if attempt == ATTEMPTS:
                raise
            log.info("picidae: %s failed (try %d of %d, retrying): %s", what, attempt,
                     ATTEMPTS, exc)
            time.sleep(delay)
            delay *= 2
    raise AssertionError("unreachable")


class Background:
    """One run's background jobs, its inputs and its warnings (see the module docstring)."""

    def __init__(self, run: Run, record: dict[str, Any]) -> None:
        # A weak reference: the run holds its jobs, not the other way round, so a finished
        # run is freed as soon as the program drops it (no cycle for the collector).
        self._run = weakref.ref(run)
        self.inputs: list[dict[str, Any]] = list(record.get("inputs") or [])
        self.warnings: list[dict[str, Any]] = list(record.get("warnings") or [])
        self.fields: dict[str, dict[str, Any]] = {
            name: dict(record.get(name) or {}) for name in ("env", "code")}
        self._futures: set[Future[None]] = set()
        self._lock = threading.Lock()
        self._artifacts: ArtifactStore | None = None

    @property
    def run(self) -> Run:
        """The run these jobs are for (alive while any job is: each holds it)."""
        run = self._run()
        if run is None:
            raise ReferenceError("the run of these background jobs is gone")
        return run

    def artifact_store(self) -> ArtifactStore:
        """Where this run's artifact content goes (resolved on first use)."""
        if self._artifacts is None:
            from picidae.artifacts.registry import for_store

            self._artifacts = for_store(self.run.store)
        return self._artifacts

    def submit(self, what: str, fn: Callable[[], None], *, quiet: bool = False) -> None:
        """Run ``fn`` in the pool; a failure is reported on the run as ``what`` (``quiet``:
        in its warnings only, not as a log line — for capture the user did not ask for)."""
        try:
            future = pool().submit(self._job, what, fn, quiet)
        except RuntimeError:  # the interpreter is shutting down: do it now instead
            self._job(what, fn, quiet)
            return
        with self._lock:
            self._futures.add(future)
        future.add_done_callback(self._done)

    def _done(self, future: Future[None]) -> None:
        with self._lock:
            self._futures.discard(future)

    def _job(self, what: str, fn: Callable[[], None], quiet: bool) -> None:
        try:
            fn()
        except Exception as exc:
            self.report(what, exc, quiet=quiet)

    def pending(self) -> int:
        """How many jobs are queued or running."""
        with self._lock:
            return len(self._futures)

    def wait(self) -> None:
        """Block until every job (including jobs those jobs started) is done."""
        while True:
            with self._lock:
                futures = list(self._futures)
            if not futures:
                return
            from concurrent.futures import wait as wait_futures

            wait_futures(futures)

    def report(self, what: str, exc: BaseException, *, quiet: bool = False) -> None:
        """Record a failed job on the run: a warning entry and, unless ``quiet``, a line on
        the ``picidae`` log stream and a warning on the ``picidae`` logger."""
        detail = " ".join(str(exc).split()) or type(exc).__name__
        message = f"{what} failed: {detail}"
        now = time.time()
        if quiet:
            log.info("picidae: run %s: %s", self.run.id, message)
        else:
            log.warning("picidae: run %s: %s", self.run.id, message)
            self.run._logs.append(LogLine(now, "picidae", message))
        with self.run._pending_lock:
            self.warnings.append({"at": now, "what": what, "error": type(exc).__name__,
                                  "message": message})
            self.run._pending.fields["warnings"] = [dict(w) for w in self.warnings]

    def set_field(self, name: str, value: Any) -> None:
        """Replace a data field of the run with the next flush."""
        with self.run._pending_lock:
            self.run._pending.fields[name] = value

    def merge_field(self, name: str, update: dict[str, Any]) -> None:
        """Merge keys into a dict data field (``env``, ``code``) and write it whole."""
        with self.run._pending_lock:
            current = self.fields.setdefault(name, {})
            current.update(update)
            self.run._pending.fields[name] = dict(current)

    def set_input(self, entry: dict[str, Any]) -> None:
        """Add or update an input (same name and version: replaced) and write the list."""
        with self.run._pending_lock:
            for i, old in enumerate(self.inputs):
                if old["name"] == entry["name"] and old.get("version") == entry.get("version"):
                    self.inputs[i] = entry
                    break
            else:
                self.inputs.append(entry)
            self.run._pending.fields["inputs"] = [dict(e) for e in self.inputs]

    def set_output(self, name: str, value: Any) -> None:
        """Record a named output with the next flush."""
        with self.run._pending_lock:
            self.run._pending.outputs[name] = value
