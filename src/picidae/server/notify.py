"""Waking the live events streams of this replica when an event is written.

On PostgreSQL one thread per replica ``LISTEN``s (``EventNotifier.event_listener()``) and
wakes every waiting stream as soon as any process commits an event, so events written through
another replica are pushed at once. Streams still re-read the log every ``FALLBACK_S``
seconds, in case the listening connection is down. Other stores have no notifications:
streams poll every ``POLL_S`` seconds.
"""

from __future__ import annotations

import asyncio
import logging
import threading

from picidae.store.base import Store
from picidae.store.capabilities import EventNotifier

log = logging.getLogger("picidae.server")

POLL_S = 0.25
FALLBACK_S = 2.0


class Notifier:
    """Wake-ups for this replica's events streams (see the module docstring)."""

    def __init__(self, store: Store) -> None:
        self._factory = store.event_listener if isinstance(store, EventNotifier) else None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._event: asyncio.Event | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def pushes(self) -> bool:
        """Whether streams are woken by notifications (rather than polling)."""
        return self._factory is not None

    def start(self) -> None:
        """Start listening (call from the server's event loop)."""
        if self._factory is None:
            return
        self._loop = asyncio.get_running_loop()
        self._event = asyncio.Event()
        self._thread = threading.Thread(target=self._listen, name="picidae-listen",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop listening."""
        self._stop.set()
        if self._thread is not None and self._thread.is_alive():
            self._thread.join(timeout=FALLBACK_S + 1)

    def _listen(self) -> None:
        assert self._factory is not None and self._loop is not None
        listener = self._factory()
        try:
            while not self._stop.is_set():
                try:
                    woke = listener.wait(1.0)
                except Exception as exc:  # never let the listener die; streams fall back
                    log.warning("events listener failed: %s", exc)
                    self._stop.wait(1.0)
                    continue
                if woke:
                    try:
                        self._loop.call_soon_threadsafe(self._wake)
                    except RuntimeError:  # the loop has closed: the server is stopping
                        return
        finally:
            listener.close()

    def _wake(self) -> None:
        if self._event is not None:
            self._event.set()
            self._event = asyncio.Event()

    def ticket(self) -> asyncio.Event | None:
        """Take before reading the log: ``wait`` then returns at once if an event was written
        after this call, so a notification between the read and the wait is not missed."""
        return self._event

    async def wait(self, ticket: asyncio.Event | None, timeout: float) -> None:
        """Sleep until a notification after ``ticket`` or ``timeout`` seconds (at most
        ``FALLBACK_S``; ``POLL_S`` without notifications)."""
        if ticket is None:
            await asyncio.sleep(min(timeout, POLL_S))
            return
        try:
            await asyncio.wait_for(ticket.wait(), timeout=min(timeout, FALLBACK_S))
        except TimeoutError:
            pass
