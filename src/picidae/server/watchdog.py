"""The heartbeat watchdog: applies the timeout and recovery window on a timer.

Ticks every second (or the timeout's tenth, if smaller), so second-sized knobs used in tests
take effect within a second or two. Each move is a conditional update, so several replicas
ticking at once never make a double or conflicting transition.
"""

from __future__ import annotations

import logging
import threading

from picidae.settings import settings
from picidae.store.base import Store

log = logging.getLogger("picidae.server")


class Watchdog:
    """A daemon thread calling ``store.apply_liveness()`` on a timer."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start ticking; again after ``stop`` (an app whose lifespan runs twice)."""
        if self._thread is None or not self._thread.is_alive():
            self._stop = threading.Event()
            self._thread = threading.Thread(target=self._loop, args=(self._stop,),
                                            name="picidae-watchdog", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop ticking (waits for the current tick)."""
        self._stop.set()
        if self._thread is not None and self._thread.is_alive():
            self._thread.join(timeout=5)

    def _loop(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                cfg = settings()
                interval = min(1.0, cfg.heartbeat_timeout_s / 10, cfg.lost_window_s / 10)
                self.store.apply_liveness()
            except Exception as exc:  # a bad tick must not stop the watchdog
                log.warning("watchdog tick failed: %s", exc)
                interval = 1.0
            stop.wait(max(0.05, interval))
