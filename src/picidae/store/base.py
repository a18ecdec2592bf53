"""The ``Store`` protocol: what every backend (SQLite, PostgreSQL, HTTP) implements.

The contract is written once here; each method's docstring is its specification. ``write`` is
the one batch primitive the SDK's background writer uses; the conveniences build on it.
"""

from __future__ import annotations

from array import array
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from picidae.core.run import LogLine
from picidae.store.series import MetricSeries as MetricSeries  # re-exported: its home was here


@dataclass
class SeriesChunk:
    """Points of one metric key and stage, columnar: ``steps`` (int64), ``values`` and
    ``times`` (float64)."""

    key: str
    stage: str | None
    steps: array[int] = field(default_factory=lambda: array("q"))
    values: array[float] = field(default_factory=lambda: array("d"))
    times: array[float] = field(default_factory=lambda: array("d"))


@dataclass
class Batch:
    """Everything the SDK buffered for one run since the last flush, written atomically.

    ``config`` and ``summary`` are merged (nested dicts key by key) into what is stored;
    ``fields`` replaces whole data fields (``primary_metric``, ``code``, ``env``...);
    ``heartbeat_at`` records a heartbeat at that time.
    """

    chunks: list[SeriesChunk] = field(default_factory=list)
    logs: list[LogLine] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    fields: dict[str, Any] = field(default_factory=dict)
    heartbeat_at: float | None = None
    #: ``run.alert(...)`` calls: ``{title, text, level, at}`` each, sent as ``run.alert``
    #: events (what alert rules with ``--on alert`` deliver).
    alerts: list[dict[str, Any]] = field(default_factory=list)
    #: Identifies the batch across retries, so a store applies it at most once.
    batch_id: str | None = None
    #: The data of a whole run being imported (``analysis.bundle.load_run``), accepted even
    #: though the imported run has ended. Only a store's own process sets it: it is not part
    #: of the wire form, so no client can.
    backfill: bool = False

    def empty(self) -> bool:
        """True when there is nothing to write."""
        return not (self.chunks or self.logs or self.config or self.summary or self.outputs
                    or self.fields or self.heartbeat_at is not None or self.alerts)

    def n_points(self) -> int:
        """How many metric points the batch carries."""
        return sum(len(c.steps) for c in self.chunks)


@dataclass
class RunQuery:
    """A listing request. ``order_by`` is a list of ``(field, descending)``; fields are
    ``created_at``, ``name``, ``status`` and the other columns, ``metrics.K``, ``summary.K``,
    ``config.K``. ``where`` is an expression of the filter language."""

    status: list[str] | None = None
    name: str | None = None
    parent: str | None = None
    root: str | None = None
    kind: str | None = None
    tags: list[str] | None = None
    created_after: float | None = None
    created_before: float | None = None
    where: str | None = None
    order_by: list[tuple[str, bool]] = field(default_factory=list)
    limit: int | None = None
    offset: int = 0
    include_archived: bool = True
    workspace: str = "default"


@runtime_checkable
class Store(Protocol):
    """A place runs are recorded. Every method is synchronous and thread-safe.

    Abilities only some stores have (workspaces, an events log, tokens...) are the
    sub-protocols in ``store.capabilities``."""

    #: Where the store is (a folder, a ``postgresql://`` URL with the password masked, or a
    #: server's ``http(s)://`` URL).
    url: str
    #: Whether reads apply the heartbeat watchdog first (``apply_liveness``), for a store no
    #: server watches; a server turns it off, its watchdog running on a timer.
    liveness_on_read: bool

    def create_run(self, record: dict[str, Any]) -> dict[str, Any]:
        """Insert a complete new run record (see ``core.run``) and its first transition, if
        the record carries ``transitions``; return the stored record."""
        ...

    def get_run(self, run_id: str) -> dict[str, Any]:
        """The full record, with ``transitions``; ``RunNotFound`` for an unknown id."""
        ...

    def get_transitions(self, run_id: str) -> list[dict[str, Any]]:
        """The run's transitions, oldest first, as ``get_run`` gives them (``from``, ``to``,
        ``at``, ``reason``, ``actor``)."""
        ...

    def list_runs(self, query: RunQuery) -> list[dict[str, Any]]:
        """Records matching ``query`` (without ``transitions``), in its order."""
        ...

    def count_runs(self, query: RunQuery) -> int:
        """How many runs match ``query`` (ignoring limit and offset)."""
        ...

    def transition(self, run_id: str, to: str, *, reason: str | None = None,
                   actor: str | None = None, at: float | None = None,
                   failure: dict[str, Any] | None = None,
                   expect: set[str] | None = None) -> dict[str, Any]:
        """Move the run to ``to`` if the lifecycle allows it (and, with ``expect``, only if
        its current status is one of those); record ``from``, ``to``, ``at``, ``reason`` and
        ``actor``; return the updated record. ``IllegalTransition`` otherwise, nothing
        changed."""
        ...

    def edit_run(self, run_id: str, changes: dict[str, Any], *,
                 actor: str | None = None) -> dict[str, Any]:
        """Annotate a run in any state (ended and archived runs too; unlike ``write``, never
        ``RunFinished``): ``changes`` holds any of ``alias`` (``""`` clears it),
        ``add_tags``, ``remove_tags`` and ``notes`` (replaced; ``""`` clears them), checked
        by ``core.edits.clean_edit``. Appends ``{at, actor, changes}`` to the run's
        ``edits``, emits a ``run.edited`` event with the same payload and returns the
        updated record. ``InvalidInput`` for a bad change, ``RunNotFound`` for an unknown
        id; nothing changes on an error."""
        ...

    def restore_run(self, run_id: str, *, actor: str | None = None) -> dict[str, Any]:
        """Return an archived run to the terminal state it was archived from, recorded as a
        transition (reason ``restored from the archive``); return the updated record.
        ``IllegalTransition`` for a run that is not archived."""
        ...

    def heartbeat(self, run_id: str, at: float | None = None) -> str:
        """Record a heartbeat; a ``lost`` run returns to the state it was lost from (or fails,
        reason ``lost``, past the recovery window). Returns the status after the heartbeat;
        ``RunFinished`` for a run that has ended."""
        ...

    def write(self, run_id: str, batch: Batch) -> None:
        """Apply a batch atomically: metric points, log lines, merges and field updates.
        ``RunFinished`` when the run has ended (see ``lifecycle.write_refusal``), unless the
        store applied this ``batch_id`` before it ended; nothing is written then."""
        ...

    def metrics(self, run_id: str, key: str, max_points: int | None = None) -> MetricSeries:
        """Every point of one metric, in step order; with ``max_points``, a longer series
        downsampled to at most that many (``core.downsample``: the first and last points and
        each bucket's lowest and highest), ``total`` saying how many are stored."""
        ...

    def metric_keys(self, run_id: str) -> list[str]:
        """The metric keys a run has, sorted."""
        ...

    def latest_metrics(self, run_ids: list[str]) -> dict[str, dict[str, float]]:
        """The latest value of every metric, per run id."""
        ...

    def logs(self, run_id: str, offset: int = 0, limit: int | None = None) -> list[LogLine]:
        """Log lines from the ``offset``-th on."""
        ...

    def apply_liveness(self, now: float | None = None) -> list[tuple[str, str, str]]:
        """The heartbeat watchdog, once: silent live runs become ``lost``, runs lost past
        the recovery window ``failed`` (reason ``lost``). Returns ``(id, from, to)`` moves."""
        ...

    def add_artifact(self, run_id: str, record: dict[str, Any], *,
                     backfill: bool = False) -> dict[str, Any]:
        """Record an artifact whose content is already in an artifact store: ``name`` (a safe
        relative path), ``type`` (free text), ``kind`` (``file``, ``folder`` or ``image``),
        ``digest`` (SHA-256 hex), ``size``, ``step``, ``created_at``, ``caption``,
        ``metadata`` (a dict), ``location`` (the artifact store) and, for a folder, ``files``
        (``[{path, digest, size}]``). Emits a ``run.artifact`` event; returns the record with
        its ``id``. ``RunNotFound`` for an unknown run; ``RunFinished`` when the run has
        ended (``lifecycle.artifact_refusal``), unless ``backfill``: an imported run's own
        artifact, stored with it (like ``Batch.backfill``, honoured in-process only — over
        HTTP an import goes through ``import_run``)."""
        ...

    def list_artifacts(self, run_id: str) -> list[dict[str, Any]]:
        """The run's artifacts as ``add_artifact`` took them (with ``id``), oldest first."""
        ...

    def claim(self, worker: str, *, queue: str = "default", limit: int = 1,
              fits: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """Take up to ``limit`` of the oldest ``queued`` runs waiting in ``queue`` for
        ``worker`` — with ``fits`` (``{cpus, gpus, memory_mb}``: what the worker has free),
        only runs whose ``resources.request`` fits it —, atomically: each moves to
        ``provisioning`` (actor ``worker``), its
        ``compute`` records the worker, queue and claim time, and its heartbeat clock starts
        (silence past the heartbeat timeout fails it, reason ``lost``). Any number of workers
        may claim at once; no run is ever handed to two. Returns the claimed records."""
        ...

    def add_flow(self, name: str, spec: dict[str, Any]) -> dict[str, Any]:
        """Store a new version of flow ``name`` (version 1 for a new name) holding ``spec``
        (a JSON-like dict); returns ``{name, version, spec, created_at}``."""
        ...

    def get_flow(self, name: str, version: int | None = None) -> dict[str, Any]:
        """One version of a flow (the latest when ``version`` is None), as ``add_flow``
        returned it; ``FlowNotFound`` when there is none."""
        ...

    def list_flows(self) -> list[dict[str, Any]]:
        """Every flow's latest version, by name, each with ``versions`` (how many) and
        ``last_run`` (``{id, status, created_at, ended_at}`` of its newest run, or None)."""
        ...

    def delete_runs(self, run_ids: list[str]) -> list[str]:
        """Remove runs with their transitions, fields, metrics and logs; return the ids
        removed."""
        ...

    def lineage(self, run_id: str, *, max_nodes: int = 500) -> dict[str, Any]:
        """The run's ancestors and descendants, through parent, ``retry_of``, ``replay_of``
        and data (a run that consumed a version another produced), up to ``max_nodes`` runs:
        ``{run, nodes, edges, truncated}``. A node is ``{id, name, status, kind,
        created_at, depth, stale}`` (depth < 0 for ancestors); an edge ``{from, to,
        relation, name?, version?}`` points downstream. ``RunNotFound`` for an unknown id."""
        ...

    def referrers(self, run_ids: list[str]) -> list[dict[str, Any]]:
        """Runs outside ``run_ids`` that point into them (as their parent, the run they
        retry or replay, or the producer of a version they consumed), as lineage edges."""
        ...

    def purge_runs(self, run_ids: list[str]) -> dict[str, Any]:
        """Delete exactly ``run_ids`` like ``delete_runs``; returns ``{deleted, blobs}``,
        ``blobs`` the artifact contents (``{digest, location}``) no remaining run in any
        workspace references any more, for the caller to remove from artifact storage."""
        ...

    def close(self) -> None:
        """Release connections and files."""
        ...
