"""``picidae worker``: claim queued runs and run them, ``concurrency`` at a time.

Any number of workers, on one machine or many, may share a store: a claim is atomic
(``Store.claim``), so no run is started twice. Each claimed run gets a ``Launcher`` thread.
With ``once``, the worker stops when a claim finds nothing and none of its runs is still
going (so retries it queued itself are run too). ``stop()`` (SIGTERM, Ctrl-C) stops claiming,
stops the running commands (SIGTERM, then SIGKILL after the grace period) and cancels their
runs. A worker that dies without stopping leaves its runs to the heartbeat watchdog: they
become ``lost``, then ``failed``.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from picidae.core.submission import DEFAULT_QUEUE
from picidae.core.validation import clean_label
from picidae.errors import InvalidInput, PicidaeError
from picidae.executor import prices
from picidae.executor.alerts import Deliverer
from picidae.executor.launcher import Launcher, Options
from picidae.executor.schedules import Scheduler
from picidae.settings import settings
from picidae.store.base import Store
from picidae.store.registry import open_store, resolve

log = logging.getLogger("picidae.worker")


def worker_name() -> str:
    """``host:pid:xxxx``: unique among the workers of a store."""
    return f"{socket.gethostname()[:64]}:{os.getpid()}:{uuid.uuid4().hex[:4]}"


class Worker:
    """Claims and runs queued runs (see the module docstring)."""

    def __init__(self, store: str | Path | None = None, *, queue: str = DEFAULT_QUEUE,
                 concurrency: int = 1, once: bool = False, target: str | None = None,
                 workdir: str | Path | None = None, keep_workdirs: bool = False,
                 name: str | None = None, echo: Callable[[str], None] | None = None) -> None:
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) \
                or not 1 <= concurrency <= 1024:
            raise InvalidInput(f"concurrency must be an int from 1 to 1024, got "
                               f"{concurrency!r}", field="concurrency")
        cfg = settings()
        self.store_url = resolve(store)
        self.store: Store = open_store(self.store_url)
        self.queue = clean_label(queue, "queue", max_len=64) or DEFAULT_QUEUE
        self.concurrency = concurrency
        self.once = once
        root = Path(workdir).expanduser() if workdir else cfg.home / "work"
        root.mkdir(parents=True, exist_ok=True)
        self.opts = Options(
            worker=clean_label(name, "name") or worker_name(), store_url=self.store_url,
            root=root.resolve(), target=clean_label(target, "target") or cfg.compute_target,
            keep_workdirs=keep_workdirs, poll_s=cfg.worker_poll_s,
            grace_s=cfg.cancel_grace_s, sample_s=cfg.sample_interval_s,
            prices=prices.load_table(), echo=echo)
        self._active: dict[str, threading.Thread] = {}
        self._wake = threading.Event()
        self.done: list[tuple[str, str | None]] = []

    @property
    def name(self) -> str:
        """The worker's name (the actor of the moves it makes)."""
        return self.opts.worker

    def stop(self) -> None:
        """Stop claiming; stop running commands and cancel their runs."""
        self.opts.stop.set()
        self._wake.set()

    def _launch(self, record: dict[str, Any]) -> None:
        def body() -> None:
            final = None
            try:
                final = Launcher(self.store, record, self.opts).run()
            finally:
                self.done.append((record["id"], final))
                self._wake.set()

        thread = threading.Thread(target=body, name=f"picidae-run-{record['id'][:8]}",
                                  daemon=True)
        self._active[record["id"]] = thread
        thread.start()

    def run(self) -> int:
        """Work until stopped (or, with ``once``, until the queue is empty); returns how many
        runs this worker took."""
        scheduler = Scheduler(self.store)  # a worker fires schedules too (once per slot)
        deliverer = Deliverer(self.store)  # and delivers alerts (once per alert)
        scheduler.start()
        deliverer.start()
        try:
            return self._work()
        finally:
            deliverer.stop(flush=self.once)
            scheduler.stop()

    def _work(self) -> int:
        taken = 0
        while not self.opts.stop.is_set():
            for run_id, thread in list(self._active.items()):
                if not thread.is_alive():
                    del self._active[run_id]
            free = self.concurrency - len(self._active)
            claimed: list[dict[str, Any]] = []
            if free > 0:
                try:
                    claimed = self.store.claim(self.name, queue=self.queue, limit=free)
                except PicidaeError as exc:
                    log.warning("worker %s: could not claim from %s: %s", self.name,
                                self.store_url, exc)
            for record in claimed:
                taken += 1
                self._launch(record)
            if self.once and not claimed and not self._active:
                break
            if not claimed or len(self._active) >= self.concurrency:
                self._wake.wait(self.opts.poll_s)
                self._wake.clear()
        for thread in list(self._active.values()):
            thread.join()
        return taken
