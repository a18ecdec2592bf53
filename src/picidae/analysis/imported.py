"""What the W&B and TensorBoard importers share: a run read from another tracker (``Foreign``)
turned into an import payload (see ``analysis.bundle``), and the counts an import prints.

Each foreign run gets a UUIDv7 made from its start time and its id in the source
(``mlflow.run_uuid7``), so importing the same runs again finds them and skips them.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from picidae.analysis import bundle
from picidae.analysis.mlflow import LocalFiles, run_uuid7
from picidae.core.validation import clean_name
from picidae.errors import InvalidInput
from picidae.store.base import RunQuery, Store
from picidae.store.wire import pack

_MAX_LABEL = 128


@dataclass
class Foreign:
    """One run as another tracker kept it."""

    source: str  #: the tracker: ``wandb`` or ``tensorboard``
    source_id: str  #: its id there (the dedupe key)
    name: str
    start: float  #: epoch seconds
    end: float | None = None
    status: str = "completed"
    failure: dict[str, Any] | None = None
    kind: str | None = None
    parent: str | None = None  #: the ``source_id`` of the parent run, if imported with it
    parent_id: str | None = None  #: or the Picidae id of a parent already in the store
    config: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    notes: str | None = None
    agent: str | None = None
    command: list[str] | None = None
    #: ``{key: [(step, value, time)]}``
    metrics: dict[str, list[tuple[int, float, float]]] = field(default_factory=dict)
    #: ``(time, stream, text)``
    logs: list[tuple[float, str, str]] = field(default_factory=list)
    #: ``(artifact name, file)``
    files: list[tuple[str, Path]] = field(default_factory=list)
    #: a run of this name and kind already in the store stands for this one (a group parent)
    reuse_by_name: bool = False

    @property
    def run_id(self) -> str:
        """The Picidae id this run gets (the same on every import)."""
        return run_uuid7(int(self.start * 1000), f"{self.source}:{self.source_id}")


def label(text: str) -> str:
    """A one-line tag or label of at most 128 characters."""
    return " ".join(text.split())[:_MAX_LABEL]


def safe_name(*parts: str | None) -> str:
    """A run name from path-like parts, with what a name may not hold dropped."""
    segments = [s.strip() for p in parts if p for s in p.replace("\\", "/").split("/")]
    kept = "/".join(s for s in segments if s and s not in ("..", "."))
    try:
        return clean_name(kept or "imported")
    except InvalidInput:
        return "imported"


def _chunks(metrics: Mapping[str, list[tuple[int, float, float]]]) -> list[dict[str, Any]]:
    out = []
    for key, points in sorted(metrics.items()):
        kept = sorted((p for p in points if p[0] >= 0), key=lambda p: (p[0], p[2]))
        if not kept:
            continue
        out.append({"key": key, "stage": None,
                    "steps": pack(array("q", (p[0] for p in kept))),
                    "values": pack(array("d", (p[1] for p in kept))),
                    "times": pack(array("d", (p[2] for p in kept)))})
    return out


def payload(run: Foreign, ids: Mapping[str, str], files: LocalFiles) -> dict[str, Any]:
    """``run`` as an import payload; ``ids`` maps the source ids of this import to run ids."""
    run_id = run.run_id
    parent_id = ids.get(run.parent) if run.parent else run.parent_id
    end = run.end if run.end is not None else run.start
    actor = f"{run.source}-import"
    moves: list[dict[str, Any]] = [{"from": "queued", "to": "running", "at": run.start,
                                    "reason": f"imported from {run.source}", "actor": actor}]
    ended = run.status in ("completed", "failed", "canceled")
    if ended:
        moves.append({"from": "running", "to": run.status, "at": end,
                      "reason": f"{run.source} import", "actor": actor})
    record = {
        "id": run_id, "name": run.name, "parent_id": parent_id,
        "status": run.status, "trigger": "child" if parent_id else "user", "kind": run.kind,
        "agent": label(run.agent) if run.agent else None, "attempt": 1,
        "created_at": run.start, "started_at": run.start, "ended_at": end if ended else None,
        "last_heartbeat_at": end, "config": run.config, "summary": run.summary,
        "tags": list(dict.fromkeys(label(t) for t in run.tags if t.strip())),
        "notes": run.notes, "command": run.command, "transitions": moves,
        "failure": run.failure if run.status == "failed" else None,
    }
    artifacts = []
    for name, path in run.files:
        digest, size = files.add(path)
        artifacts.append({"name": name, "type": None, "step": None, "caption": None,
                          "metadata": {run.source: True}, "created_at": end, "kind": "file",
                          "digest": digest, "size": size})
    logs = [[t, stream, text] for t, stream, text in run.logs]
    return {"record": record, "metrics": _chunks(run.metrics), "logs": logs,
            "artifacts": artifacts}


def finite_json(value: Any) -> Any:
    """``value`` with NaN and infinities (JSON cannot hold them) as strings."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): finite_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite_json(v) for v in value]
    return value


def import_runs(store: Store, runs: Iterable[Foreign]) -> dict[str, Any]:
    """Import ``runs`` (parents before children) into ``store``; runs already there are
    skipped. Returns ``{imported, skipped, points, files, blobs}`` (points and files of the
    imported runs)."""
    ids: dict[str, str] = {}
    kept: list[Foreign] = []
    for run in runs:
        found = store.list_runs(RunQuery(name=run.name, kind=run.kind, limit=1)) \
            if run.reuse_by_name else []
        ids[run.source_id] = found[0]["id"] if found else run.run_id
        if not found:
            kept.append(run)
    runs = kept
    files = LocalFiles()
    payloads = [payload(r, ids, files) for r in runs]
    done = bundle.import_payloads(store, payloads, files)
    new = set(done["imported"])
    done["points"] = sum(len(pts) for r in runs if r.run_id in new
                         for pts in r.metrics.values())
    done["files"] = sum(len(r.files) for r in runs if r.run_id in new)
    return done
