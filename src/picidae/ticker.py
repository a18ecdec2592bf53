"""``Ticker``: a daemon thread that does one piece of work on a timer until stopped — the
server's heartbeat watchdog, the schedule firer and the alert deliverer are each one.

It can be started again after a stop, because Starlette may run an app's lifespan more than
once (a ``TestClient`` entered twice, schemathesis), and a bad tick is logged, never fatal.
"""

from __future__ import annotations

import logging
import threading

log = logging.getLogger("picidae")


class Ticker:
    """Subclasses set ``name`` and implement ``_tick`` (one round of work, returning the
    seconds to wait before the next); ``_enabled`` says whether there is work at all."""

    name = "picidae-ticker"
    #: How long ``stop`` waits for the current tick.
    join_timeout_s = 5.0
    #: The wait after a tick that raised.
    retry_s = 1.0

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _enabled(self) -> bool:
        return True

    def _tick(self) -> float:
        raise NotImplementedError

    def start(self) -> None:
        """Start ticking (nothing happens when there is no work); again after ``stop``."""
        if self._enabled() and (self._thread is None or not self._thread.is_alive()):
            self._stop = threading.Event()
            self._thread = threading.Thread(target=self._loop, args=(self._stop,),
                                            name=self.name, daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop ticking (waits for the current tick)."""
        self._stop.set()
        if self._thread is not None and self._thread.is_alive():
            self._thread.join(timeout=self.join_timeout_s)

    def _loop(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                wait = self._tick()
            except Exception as exc:  # a bad tick must not stop the thread
                log.warning("%s tick failed: %s", self.name, exc)
                wait = self.retry_s
            stop.wait(wait)
