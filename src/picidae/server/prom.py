"""What ``/metrics`` exports beyond request counts: the store's runs by status and queue
depths (read from the store at each scrape, so every replica reports the same numbers), the
points this process ingested and the alerts it delivered."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from picidae.core.states import State
from picidae.executor.alerts import delivered_total
from picidae.store.base import RunQuery, Store

#: Queued runs read per scrape for the queue depths (beyond this, the depth is a floor).
MAX_QUEUED = 100_000


class Points:
    """A thread-safe count of metric points this process wrote for clients."""

    def __init__(self) -> None:
        self.value = 0
        self._lock = threading.Lock()

    def add(self, n: int) -> None:
        """Count ``n`` more points."""
        if n:
            with self._lock:
                self.value += n


#: Points ingested through this process's API (``picidae_points_ingested_total``).
POINTS = Points()


class StoreCollector(Collector):
    """``picidae_runs{status}``, ``picidae_queue_depth{queue}``,
    ``picidae_points_ingested_total`` and ``picidae_alerts_delivered_total``."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def collect(self) -> Iterator[Any]:
        """Read the store now (a scrape)."""
        runs = GaugeMetricFamily("picidae_runs", "Runs in the store by status",
                                 labels=["status"])
        for state in State:
            runs.add_metric([state.value], self.store.count_runs(RunQuery(
                status=[state.value])))
        yield runs
        depth = GaugeMetricFamily("picidae_queue_depth", "Runs queued for workers by queue",
                                  labels=["queue"])
        queued = self.store.list_runs(RunQuery(status=[State.QUEUED.value], limit=MAX_QUEUED))
        for queue, n in sorted(Counter(r.get("queue") or "default" for r in queued).items()):
            depth.add_metric([queue], n)
        yield depth
        points = CounterMetricFamily("picidae_points_ingested",
                                     "Metric points written through this server")
        points.add_metric([], POINTS.value)
        yield points
        delivered = CounterMetricFamily("picidae_alerts_delivered",
                                        "Alerts this process delivered")
        delivered.add_metric([], delivered_total())
        yield delivered
