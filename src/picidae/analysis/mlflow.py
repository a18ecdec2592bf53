"""Importing MLflow runs: an ``mlruns`` folder (its file store) or a tracking database
(``sqlite:///mlflow.db``, or any SQLAlchemy URL MLflow was pointed at). MLflow itself is not
needed: the file layout and the tables are read directly.

How an MLflow run becomes a run:

- ``id``: a UUIDv7 from the run's start time and its MLflow id, so importing the same runs
  again finds them (and skips them) instead of duplicating them;
- ``name``: ``EXPERIMENT/RUN NAME``; the ``mlflow.parentRunId`` tag makes it a child of that
  run (``trigger`` ``child``), so nested runs keep their tree;
- params → ``config``, values read back as numbers and booleans where they look like one
  (MLflow stores every param as text);
- metrics → metric points with their full history (step, value, timestamp; NaN kept);
- tags → ``tags`` as ``key=value`` (at most 128 characters); ``mlflow.user`` → ``agent``,
  ``mlflow.source.name`` → ``command``, ``mlflow.source.git.*`` → ``code``; plus the tags
  ``mlflow``, ``mlflow.experiment=NAME`` and ``mlflow.run=ID``;
- status: FINISHED → completed, FAILED → failed, KILLED → canceled, RUNNING → running,
  SCHEDULED → queued; deleted runs and experiments are left out;
- artifacts (when their folder is on this machine) → artifacts, content copied.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import unquote, urlparse

from picidae.artifacts.base import folder_digest, iter_folder, sha256_file
from picidae.core.validation import clean_name
from picidae.errors import ArtifactNotFound, InvalidInput
from picidae.store.base import SeriesChunk
from picidae.store.wire import pack

STATUS = {"FINISHED": "completed", "FAILED": "failed", "KILLED": "canceled",
          "RUNNING": "running", "SCHEDULED": "queued"}
#: MLflow's RunStatus numbers, as its file store writes them.
STATUS_NUMBERS = {1: "RUNNING", 2: "SCHEDULED", 3: "FINISHED", 4: "FAILED", 5: "KILLED"}
_MAX_TAG = 128


@dataclass
class MlflowRun:
    """One MLflow run as read from either kind of store."""

    run_id: str
    experiment: str
    name: str | None
    status: str
    start_ms: int
    end_ms: int | None
    user: str | None = None
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    #: ``{key: [(step, value, timestamp_ms)]}``
    metrics: dict[str, list[tuple[int, float, int]]] = field(default_factory=dict)
    artifacts: Path | None = None


def run_uuid7(start_ms: int, mlflow_id: str) -> str:
    """A UUIDv7 with ``start_ms`` as its time and the rest derived from the MLflow id."""
    h = int.from_bytes(hashlib.sha256(mlflow_id.encode()).digest()[:10], "big")
    value = (max(0, start_ms) & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76
    value |= ((h >> 62) & 0xFFF) << 64
    value |= 0b10 << 62
    value |= h & ((1 << 62) - 1)
    return str(uuid.UUID(int=value))


def param_value(text: str) -> Any:
    """A param as a value: ints, floats and booleans as such, ``None`` for ``None``."""
    stripped = text.strip()
    if re.fullmatch(r"[+-]?\d+", stripped):
        return int(stripped)
    if stripped in ("True", "true", "False", "false"):
        return stripped.lower() == "true"
    if stripped == "None":
        return None
    if re.fullmatch(r"[+-]?(\d+\.?\d*([eE][+-]?\d+)?|\.\d+([eE][+-]?\d+)?|inf|nan)",
                    stripped.lower()):
        return float(stripped)
    return text


# -- the file store ---------------------------------------------------------------------------

def _meta(path: Path) -> dict[str, Any]:
    """A ``meta.yaml``: with PyYAML when it is installed, else its flat ``key: value`` lines."""
    text = path.read_text(encoding="utf-8")
    try:
        import yaml  # type: ignore[import-untyped]
    except ImportError:
        yaml = None
    if yaml is not None:
        data = yaml.safe_load(text)
        return data if isinstance(data, dict) else {}
    out: dict[str, Any] = {}
    last = None
    for line in text.splitlines():
        if line.startswith((" ", "\t")) and last is not None:  # a folded long value
            out[last] = f"{out[last]} {line.strip()}"
            continue
        key, sep, value = line.partition(":")
        if not sep:
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1].replace("''", "'")
        out[key.strip()] = None if value in ("null", "~") else value
        last = key.strip()
    return out


def _values(folder: Path) -> Iterator[tuple[str, str]]:
    """``(key, file content)`` under a params or tags folder (keys may hold ``/``)."""
    if not folder.is_dir():
        return
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            yield path.relative_to(folder).as_posix(), path.read_text(encoding="utf-8")


def _local(uri: str | None) -> Path | None:
    if not uri:
        return None
    if uri.startswith("file:"):
        return Path(unquote(urlparse(uri).path))
    return None if "://" in uri else Path(uri)


def read_mlruns(root: Path) -> Iterator[MlflowRun]:
    """The runs of an ``mlruns`` folder (MLflow's file store)."""
    for exp_dir in sorted(p for p in root.iterdir() if p.is_dir() and p.name != ".trash"):
        meta_file = exp_dir / "meta.yaml"
        if not meta_file.is_file():
            continue
        exp = _meta(meta_file)
        if exp.get("lifecycle_stage") == "deleted":
            continue
        exp_name = str(exp.get("name") or exp_dir.name)
        for run_dir in sorted(p for p in exp_dir.iterdir() if p.is_dir()):
            run_meta = run_dir / "meta.yaml"
            if not run_meta.is_file():
                continue  # e.g. models/, datasets/
            meta = _meta(run_meta)
            if meta.get("lifecycle_stage") == "deleted":
                continue
            status = meta.get("status")
            status = STATUS_NUMBERS.get(int(str(status)), "FINISHED") \
                if str(status).isdigit() else str(status or "FINISHED")
            run = MlflowRun(
                run_id=str(meta.get("run_id") or meta.get("run_uuid") or run_dir.name),
                experiment=exp_name, name=meta.get("run_name") or None, status=status,
                start_ms=int(meta.get("start_time") or 0),
                end_ms=int(meta["end_time"]) if meta.get("end_time") else None,
                user=meta.get("user_id") or None)
            run.params = dict(_values(run_dir / "params"))
            run.tags = dict(_values(run_dir / "tags"))
            for key, text in _values(run_dir / "metrics"):
                points = []
                for line in text.splitlines():
                    parts = line.split()
                    if len(parts) >= 2:
                        step = int(parts[2]) if len(parts) > 2 else 0
                        points.append((step, float(parts[1]), int(parts[0])))
                run.metrics[key] = points
            here = run_dir / "artifacts"
            there = _local(meta.get("artifact_uri"))
            run.artifacts = there if there is not None and there.is_dir() else \
                here if here.is_dir() else None
            yield run


# -- a tracking database ----------------------------------------------------------------------

def read_database(url: str) -> Iterator[MlflowRun]:
    """The runs of an MLflow tracking database (``sqlite:///mlflow.db``...)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import SQLAlchemyError

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            experiments = {str(r.experiment_id): r.name for r in conn.execute(text(
                "SELECT experiment_id, name FROM experiments "
                "WHERE lifecycle_stage != 'deleted'"))}
            rows = list(conn.execute(text(
                "SELECT run_uuid, name, status, start_time, end_time, user_id, "
                "artifact_uri, experiment_id FROM runs WHERE lifecycle_stage != 'deleted' "
                "ORDER BY start_time, run_uuid")))
            params: dict[str, dict[str, str]] = {}
            for r in conn.execute(text("SELECT run_uuid, key, value FROM params")):
                params.setdefault(r.run_uuid, {})[r.key] = r.value
            tags: dict[str, dict[str, str]] = {}
            for r in conn.execute(text("SELECT run_uuid, key, value FROM tags")):
                tags.setdefault(r.run_uuid, {})[r.key] = r.value or ""
            metrics: dict[str, dict[str, list[tuple[int, float, int]]]] = {}
            for r in conn.execute(text(
                    "SELECT run_uuid, key, value, timestamp, step, is_nan FROM metrics "
                    "ORDER BY run_uuid, key, step, timestamp")):
                value = math.nan if r.is_nan else float(r.value)
                metrics.setdefault(r.run_uuid, {}).setdefault(r.key, []).append(
                    (int(r.step or 0), value, int(r.timestamp or 0)))
    except SQLAlchemyError as exc:
        raise InvalidInput(f"{url} is not an MLflow tracking database: {exc}",
                           field="source") from None
    finally:
        engine.dispose()
    for r in rows:
        exp = experiments.get(str(r.experiment_id))
        if exp is None:
            continue
        art = _local(r.artifact_uri)
        yield MlflowRun(run_id=r.run_uuid, experiment=exp, name=r.name or None,
                        status=str(r.status or "FINISHED"), start_ms=int(r.start_time or 0),
                        end_ms=int(r.end_time) if r.end_time else None,
                        user=r.user_id or None, params=params.get(r.run_uuid, {}),
                        tags=tags.get(r.run_uuid, {}),
                        metrics=metrics.get(r.run_uuid, {}),
                        artifacts=art if art is not None and art.is_dir() else None)


# -- MLflow runs as payloads ------------------------------------------------------------------

class LocalFiles:
    """Artifact content read from local files, by digest (an importer's ``BlobSource``)."""

    def __init__(self) -> None:
        self.paths: dict[str, Path] = {}

    def add(self, path: Path) -> tuple[str, int]:
        digest, size = sha256_file(path)
        self.paths[digest] = path
        return digest, size

    def open(self, digest: str) -> BinaryIO:
        """See ``BlobSource.open``."""
        path = self.paths.get(digest)
        if path is None:
            raise ArtifactNotFound(f"no local file with sha256 {digest[:12]}…")
        return open(path, "rb")


def _tag(key: str, value: str) -> str:
    label = f"{key}={value}" if value else key
    label = " ".join(label.split())  # one line
    return label[:_MAX_TAG]


def _name(run: MlflowRun) -> str:
    name = f"{run.experiment}/{run.name or run.run_id}".replace("\\", "/")
    parts = [p.strip() for p in name.split("/") if p.strip() and p.strip() != ".."]
    try:
        return clean_name("/".join(parts) or run.run_id)
    except InvalidInput:
        return clean_name(f"mlflow/{run.run_id}")


def _artifacts(run: MlflowRun, files: LocalFiles, at: float) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if run.artifacts is None:
        return out
    for entry in sorted(run.artifacts.iterdir()):
        base = {"name": entry.name, "type": None, "step": None, "caption": None,
                "metadata": {"mlflow": True}, "created_at": at}
        if entry.is_file():
            digest, size = files.add(entry)
            out.append({**base, "kind": "file", "digest": digest, "size": size})
        elif entry.is_dir():
            listed = [{"path": rel, "digest": files.add(full)[0], "size": full.stat().st_size}
                      for rel, full in iter_folder(entry)]
            digest, size, _ = folder_digest(entry)
            out.append({**base, "kind": "folder", "digest": digest, "size": size,
                        "files": listed})
    return out


def payloads(runs: list[MlflowRun], files: LocalFiles) -> list[dict[str, Any]]:
    """The runs as import payloads (see ``analysis.bundle``), parents first."""
    ids = {r.run_id: run_uuid7(r.start_ms, r.run_id) for r in runs}
    parent_of = {r.run_id: r.tags.get("mlflow.parentRunId") for r in runs}

    def root(run_id: str, seen: frozenset[str] = frozenset()) -> str:
        parent = parent_of.get(run_id)
        if parent in ids and parent not in seen:
            return root(parent, seen | {run_id})
        return ids[run_id]

    def depth(run_id: str) -> int:
        n, seen = 0, {run_id}
        while (parent := parent_of.get(run_id)) in ids and parent not in seen:
            seen.add(parent)
            run_id = parent
            n += 1
        return n

    out = []
    for run in sorted(runs, key=lambda r: (depth(r.run_id), r.start_ms, r.run_id)):
        out.append(_payload(run, ids, root(run.run_id), files))
    return out


def _payload(run: MlflowRun, ids: dict[str, str], root_id: str,
             files: LocalFiles) -> dict[str, Any]:
    status = STATUS.get(run.status.upper(), "completed")
    start = run.start_ms / 1000.0
    end = run.end_ms / 1000.0 if run.end_ms else None
    parent = run.tags.get("mlflow.parentRunId")
    tags = ["mlflow", _tag("mlflow.experiment", run.experiment), _tag("mlflow.run", run.run_id)]
    code: dict[str, Any] = {}
    for key, value in sorted(run.tags.items()):
        if key.startswith("mlflow."):
            part = key.removeprefix("mlflow.source.git.")
            if part in ("commit", "branch"):
                code[part] = value
            elif part == "repoURL":
                code["remote"] = value
            continue
        label = _tag(key, value)
        if label not in tags:
            tags.append(label)
    moves: list[dict[str, Any]] = []
    if status != "queued":
        moves.append({"from": "queued", "to": "running", "at": start,
                      "reason": "imported from MLflow", "actor": "mlflow-import"})
    if status in ("completed", "failed", "canceled"):
        moves.append({"from": "running", "to": status, "at": end if end is not None else start,
                      "reason": f"MLflow status {run.status}", "actor": "mlflow-import"})
    record: dict[str, Any] = {
        "id": ids[run.run_id], "name": _name(run),
        "parent_id": ids.get(parent) if parent else None, "root_id": root_id,
        "status": status, "trigger": "child" if parent in ids else "user",
        "agent": (run.tags.get("mlflow.user") or run.user or None),
        "attempt": 1, "created_at": start,
        "started_at": start if status != "queued" else None,
        "ended_at": (end if end is not None else start) if len(moves) == 2 else None,
        "last_heartbeat_at": (end or start) if status != "queued" else None,
        "config": {k: param_value(v) for k, v in sorted(run.params.items())},
        "tags": tags, "transitions": moves,
        "command": [run.tags["mlflow.source.name"]] if run.tags.get("mlflow.source.name")
        else None,
        "code": code or None,
        "failure": {"reason": "error", "message": "failed in MLflow"}
        if status == "failed" else None,
    }
    if record["agent"] is not None:
        record["agent"] = record["agent"][:_MAX_TAG]
    chunks = []
    for key, points in sorted(run.metrics.items()):
        kept = sorted((p for p in points if p[0] >= 0), key=lambda p: (p[0], p[2]))
        if not kept:
            continue
        chunk = SeriesChunk(key, None)
        for step, point, ts in kept:
            chunk.steps.append(step)
            chunk.values.append(point)
            chunk.times.append(ts / 1000.0)
        chunks.append({"key": key, "stage": None, "steps": pack(chunk.steps),
                       "values": pack(chunk.values), "times": pack(chunk.times)})
    return {"record": record, "metrics": chunks, "logs": [],
            "artifacts": _artifacts(run, files, end if end is not None else start)}


def read(source: str | os.PathLike[str]) -> list[MlflowRun]:
    """The runs of an MLflow store: an ``mlruns`` folder (or a folder holding one), a
    ``.db`` file or a database URL."""
    text = os.fspath(source)
    if "://" in text:
        return list(read_database(text))
    path = Path(text).expanduser()
    if path.is_file():
        return list(read_database(f"sqlite:///{path.resolve()}"))
    if (path / "mlruns").is_dir():
        path = path / "mlruns"
    if not path.is_dir():
        raise InvalidInput(f"{path} is neither an mlruns folder nor an MLflow database",
                           field="source")
    return list(read_mlruns(path))


def looks_like_mlflow(source: str | os.PathLike[str]) -> bool:
    """Whether ``source`` is an MLflow store rather than a Picidae bundle."""
    text = os.fspath(source)
    if "://" in text:
        return True
    path = Path(text).expanduser()
    if path.is_file():
        return path.suffix in (".db", ".sqlite", ".sqlite3")
    if (path / "mlruns").is_dir() or path.name == "mlruns":
        return True
    return path.is_dir() and any((p / "meta.yaml").is_file() for p in path.iterdir()
                                 if p.is_dir())
