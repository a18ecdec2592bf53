"""``RunView``: a read-only view of a stored run, every contract field as an attribute."""

from __future__ import annotations

import math
import statistics
from datetime import UTC, datetime
from typing import Any

from picidae.core.run import FIELDS, LogLine
from picidae.store.base import MetricSeries, RunQuery

_TIMES = ("created_at", "started_at", "ended_at", "last_heartbeat_at")


def to_datetime(value: float | None) -> datetime | None:
    """Epoch seconds as an aware UTC datetime."""
    return None if value is None else datetime.fromtimestamp(value, UTC)


def iso(value: float | None) -> str | None:
    """Epoch seconds as an ISO 8601 UTC string."""
    dt = to_datetime(value)
    return None if dt is None else dt.isoformat().replace("+00:00", "Z")


class RunView:
    """A stored run as it was when read. Timing fields are UTC datetimes; ``duration_s`` is
    seconds; ``transitions`` is a list of dicts with ``from``, ``to``, ``at``, ``reason`` and
    ``actor``. ``to_dict()`` gives the JSON form."""

    def __init__(self, store: Any, record: dict[str, Any]) -> None:
        self._store = store
        self._record = record

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name not in FIELDS:
            raise AttributeError(f"RunView has no attribute {name!r}")
        if name == "transitions":
            if "transitions" not in self._record:
                self._record["transitions"] = self._store.get_transitions(self._record["id"])
            return [{**t, "at": to_datetime(t["at"])} for t in self._record["transitions"]]
        value = self._record.get(name)
        if name in _TIMES:
            return to_datetime(value)
        return value

    def __repr__(self) -> str:
        rec = self._record
        return f"RunView(id={rec['id']!r}, name={rec['name']!r}, status={rec['status']!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RunView) and other._record["id"] == self._record["id"]

    def __hash__(self) -> int:
        return hash(self._record["id"])

    def to_dict(self, *, transitions: bool = True) -> dict[str, Any]:
        """The run as JSON-ready data (times as ISO 8601 UTC strings)."""
        out = {name: self._record.get(name) for name in FIELDS if name != "transitions"}
        for name in _TIMES:
            out[name] = iso(self._record.get(name))
        if transitions:
            if "transitions" not in self._record:
                self._record["transitions"] = self._store.get_transitions(self._record["id"])
            out["transitions"] = [{**t, "at": iso(t["at"])} for t in self._record["transitions"]]
        return out

    # -- related data -------------------------------------------------------------------

    def metrics(self, key: str) -> MetricSeries:
        """Every point of metric ``key`` in step order: ``Point(step, value, time, stage)``."""
        return self._store.metrics(self._record["id"], key)

    def metric_keys(self) -> list[str]:
        """The metric keys this run logged, sorted."""
        return self._store.metric_keys(self._record["id"])

    def latest_metrics(self) -> dict[str, float]:
        """The latest (highest-step) value of each metric."""
        return self._store.latest_metrics([self._record["id"]])[self._record["id"]]

    def children(self) -> list[RunView]:
        """The direct children (seeds, phases, sweep points...), oldest first."""
        query = RunQuery(parent=self._record["id"], order_by=[("created_at", False)])
        return [RunView(self._store, rec) for rec in self._store.list_runs(query)]

    def logs(self, offset: int = 0, limit: int | None = None) -> list[LogLine]:
        """The run's log lines: ``LogLine(time, stream, text)``."""
        return self._store.logs(self._record["id"], offset, limit)

    def artifacts(self) -> list[dict[str, Any]]:
        """The run's artifacts (artifact storage arrives with issue 4: none yet)."""
        return []

    def children_stats(self, keys: list[str] | None = None) -> dict[str, dict[str, float]]:
        """``{key: {n, mean, std, min, max}}`` over the children's final metric values (and
        numeric summary values a child has under a key it did not log as a metric). ``std``
        is the sample standard deviation (0 for one child); NaN values are left out."""
        kids = self._store.list_runs(RunQuery(parent=self._record["id"]))
        latest = self._store.latest_metrics([k["id"] for k in kids])
        values: dict[str, list[float]] = {}
        for kid in kids:
            finals = dict(latest.get(kid["id"], {}))
            for key, value in (kid.get("summary") or {}).items():
                if key not in finals and isinstance(value, int | float) \
                        and not isinstance(value, bool):
                    finals[key] = float(value)
            for key, value in finals.items():
                if (keys is None or key in keys) and not math.isnan(value):
                    values.setdefault(key, []).append(value)
        return {key: stats(vals) for key, vals in sorted(values.items())}


def stats(values: list[float]) -> dict[str, float]:
    """n, mean, sample std, min and max of a non-empty list."""
    return {
        "n": len(values),
        "mean": statistics.fmean(values),
        "std": statistics.stdev(values) if len(values) > 1 else 0.0,
        "min": min(values),
        "max": max(values),
    }
