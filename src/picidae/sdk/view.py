"""``RunView``: a read-only view of a stored run, every contract field as an attribute."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from picidae.core.run import FIELDS, Logs
from picidae.core.stats import children_stats
from picidae.core.times import RUN_TIMES, iso, to_datetime
from picidae.store.base import MetricSeries, RunQuery, Store

if TYPE_CHECKING:
    from picidae.sdk.artifact_view import Artifact

_TIMES = RUN_TIMES

__all__ = ["RunView", "iso", "to_datetime"]


class RunView:
    """A stored run as it was when read. Timing fields are UTC datetimes; ``duration_s`` is
    seconds; ``transitions`` is a list of dicts with ``from``, ``to``, ``at``, ``reason`` and
    ``actor``. ``to_dict()`` gives the JSON form."""

    def __init__(self, store: Store, record: dict[str, Any]) -> None:
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

    def logs(self, offset: int = 0, limit: int | None = None) -> Logs:
        """The run's log lines, ``LogLine(time, stream, text)`` (``time`` in epoch seconds),
        from line ``offset``: a ``Logs`` list whose ``str()`` is the text and where
        ``"some text" in rv.logs()`` is true when a line contains it."""
        return Logs(self._store.logs(self._record["id"], offset, limit))

    def artifacts(self, type: str | None = None) -> list[Artifact]:
        """The run's artifacts (of one ``type``, if given), oldest first: dicts with
        ``name``, ``type``, ``kind``, ``size``, ``digest``, ``step``, ``created_at``... and
        ``open()``/``download()`` that check the digest (``picidae.sdk.artifact_view``)."""
        from picidae.sdk.artifact_view import Artifact

        run_id = self._record["id"]
        return [Artifact(self._store, run_id, rec) for rec in self._store.list_artifacts(run_id)
                if type is None or rec.get("type") == type]

    def artifact(self, name: str, step: int | None = None) -> Artifact:
        """The latest artifact called ``name`` (at ``step``, for images logged at several
        steps); ``ArtifactNotFound`` when there is none."""
        from picidae.errors import ArtifactNotFound

        if isinstance(name, str) and name.endswith("/"):
            name = name[:-1]  # stored without it, as log_artifact names a folder
        found = [a for a in self.artifacts()
                 if a["name"] == name and (step is None or a["step"] == step)]
        if not found:
            at = f" at step {step}" if step is not None else ""
            names = sorted({a["name"] for a in self.artifacts()})
            raise ArtifactNotFound(f"run {self._record['id']} has no artifact {name!r}{at}; it "
                                   f"has: {', '.join(names) if names else 'none'}")
        return found[-1]

    def children_stats(self, keys: list[str] | None = None) -> dict[str, dict[str, float]]:
        """``{key: {n, mean, std, min, max}}`` over the children's final metric values (and
        numeric summary values a child has under a key it did not log as a metric). ``std``
        is the sample standard deviation (0 for one child); NaN values are left out."""
        kids = self._store.list_runs(RunQuery(parent=self._record["id"]))
        latest = self._store.latest_metrics([k["id"] for k in kids])
        # One implementation with the server's /children_stats route: picidae.core.stats.
        return children_stats(kids, latest, keys)
