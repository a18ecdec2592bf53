"""The heartbeat watchdog: applies the timeout and recovery window on a timer.

Ticks every second (or the timeout's tenth, if smaller), so second-sized knobs used in tests
take effect within a second or two. Each move is a conditional update, so several replicas
ticking at once never make a double or conflicting transition.
"""

from __future__ import annotations

from picidae.settings import settings
from picidae.store.base import Store
from picidae.ticker import Ticker


class Watchdog(Ticker):
    """A daemon thread calling ``store.apply_liveness()`` on a timer."""

    name = "picidae-watchdog"

    def __init__(self, store: Store) -> None:
        super().__init__()
        self.store = store

    def _tick(self) -> float:
        cfg = settings()
        self.store.apply_liveness()
        return max(0.05, min(1.0, cfg.heartbeat_timeout_s / 10, cfg.lost_window_s / 10))
