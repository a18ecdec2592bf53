"""Importing W&B run folders (``wandb/run-*`` and ``wandb/offline-run-*``), online or offline.

W&B 0.31 keeps a run's config, summary, history and console output only inside its
``run-ID.wandb`` file and ships no reader for it, so this module reads it: a LevelDB-style log
(a 7-byte header ``:W&B``, magic ``0xBEE1``, version 0, then 32 KiB blocks of records, each with
a CRC-32, a length and a type — full, first, middle or last) of protobuf ``Record`` messages,
decoded with the ``wandb`` package's own message classes (``pip install
'picidae[wandb-import]'``). Older folders' ``files/config.yaml``, ``files/wandb-summary.json``
and ``files/wandb-history.jsonl`` are read when the log lacks them.

How a W&B run becomes a run: ``PROJECT/NAME`` (``PROJECT/GROUP/NAME`` under a parent
``PROJECT/GROUP`` of kind ``group`` when it has a group); ``job_type`` → kind; config → config
(W&B's own ``_wandb`` key dropped); history → metric points at their ``_step``, times from
``_timestamp``; summary → summary; tags → tags plus ``wandb``, ``wandb.project=P`` and
``wandb.id=ID``; notes → notes; console output → log lines; the files of ``files/`` (but
W&B's own) → artifacts; exit code 0 → ``completed``, another → ``failed`` (its exit code); no
exit record (crashed, or still running) → ``failed``, reason ``lost``.
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from picidae.analysis.imported import Foreign, finite_json, label, safe_name
from picidae.errors import InvalidInput, MissingDependency

_BLOCK = 32768
_HEADER = 7
_FULL, _FIRST, _MIDDLE, _LAST = 1, 2, 3, 4
_OWN_FILES = {"config.yaml", "wandb-summary.json", "wandb-metadata.json",
              "wandb-history.jsonl", "output.log", "wandb-events.jsonl"}
_SYSTEM_KEYS = ("_step", "_runtime", "_timestamp", "_wandb")


class DamagedFile(InvalidInput):
    """A ``.wandb`` file that is not a W&B log or is broken part way."""


def records(path: Path) -> Iterator[bytes]:
    """The records of a W&B log file, as bytes (``DamagedFile`` on a bad header or CRC)."""
    data = path.read_bytes()
    if len(data) < _HEADER:
        raise DamagedFile(f"{path}: too short for a W&B log", field="source")
    ident, magic, version = struct.unpack("<4sHB", data[:_HEADER])
    if ident != b":W&B" or magic != 0xBEE1 or version != 0:
        raise DamagedFile(f"{path}: not a W&B log (header {data[:_HEADER]!r})", field="source")
    i, parts = _HEADER, b""
    while i + _HEADER <= len(data):
        left = _BLOCK - i % _BLOCK
        if left < _HEADER:  # a block's tail too short for a header is padding
            i += left
            continue
        crc, length, kind = struct.unpack("<IHB", data[i:i + _HEADER])
        if crc == 0 and length == 0 and kind == 0:  # zero padding at the end of a block
            i += left
            continue
        chunk = data[i + _HEADER:i + _HEADER + length]
        if len(chunk) < length or zlib.crc32(chunk, zlib.crc32(bytes([kind]))) != crc:
            raise DamagedFile(f"{path}: damaged record at byte {i}", field="source")
        i += _HEADER + length
        if kind == _FULL:
            yield chunk
        elif kind == _FIRST:
            parts = chunk
        elif kind == _MIDDLE:
            parts += chunk
        elif kind == _LAST:
            yield parts + chunk
            parts = b""
        else:
            raise DamagedFile(f"{path}: unknown record type {kind} at byte {i}", field="source")


def _record_class() -> Any:
    try:
        from wandb.proto import wandb_internal_pb2
    except ImportError as exc:
        raise MissingDependency("wandb", "wandb-import") from exc
    module: Any = wandb_internal_pb2  # generated code: no stubs
    return module.Record


def _path(item: Any) -> list[str]:
    return list(item.nested_key) if item.nested_key else [item.key]


def _set(target: dict[str, Any], keys: list[str], value: Any) -> None:
    for key in keys[:-1]:
        nested = target.get(key)
        if not isinstance(nested, dict):
            nested = target[key] = {}
        target = nested
    target[keys[-1]] = value


def _drop(target: dict[str, Any], keys: list[str]) -> None:
    for key in keys[:-1]:
        nested = target.get(key)
        if not isinstance(nested, dict):
            return
        target = nested
    target.pop(keys[-1], None)


def _history(run: Foreign, row: dict[str, Any], step: int) -> None:
    at = row.get("_timestamp")
    at = float(at) if isinstance(at, int | float) else run.start
    step = int(row["_step"]) if isinstance(row.get("_step"), int | float) else step
    for key, value in row.items():
        if key.startswith("_") or isinstance(value, bool) or not isinstance(value, int | float):
            continue
        run.metrics.setdefault(key, []).append((step, float(value), at))


def read_run(folder: Path) -> Foreign:
    """One W&B run folder as a ``Foreign`` run (``DamagedFile`` when its log is broken)."""
    logs = sorted(folder.glob("run-*.wandb"))
    if not logs:
        raise DamagedFile(f"{folder}: no run-*.wandb file", field="source")
    record_class = _record_class()
    run = Foreign("wandb", folder.name.rsplit("-", 1)[-1], folder.name,
                  start=logs[0].stat().st_mtime, status="failed",
                  failure={"reason": "lost", "message": "no exit record in the W&B log "
                           "(the run crashed or was still running)"})
    config: dict[str, Any] = {}
    summary: dict[str, Any] = {}
    project = group = display = None
    seen_start = False
    n_history = 0
    for raw in records(logs[0]):
        rec = record_class()
        try:
            rec.ParseFromString(raw)
        except Exception as exc:  # protobuf's DecodeError, a broken record
            raise DamagedFile(f"{logs[0]}: a record does not decode: {exc}",
                              field="source") from exc
        which = rec.WhichOneof("record_type")
        if which == "run":
            r = rec.run
            run.source_id = r.run_id or run.source_id
            project, group, display = r.project, r.run_group, r.display_name
            run.kind = label(r.job_type) if r.job_type else None
            run.tags += list(r.tags)
            run.notes = r.notes or None
            run.agent = r.host or None
            if r.HasField("start_time"):
                run.start = r.start_time.seconds + r.start_time.nanos / 1e9
                seen_start = True
            for item in r.config.update:
                _set(config, _path(item), json.loads(item.value_json))
        elif which == "config":
            for item in rec.config.update:
                _set(config, _path(item), json.loads(item.value_json))
            for item in rec.config.remove:
                _drop(config, _path(item))
        elif which == "summary":
            for item in rec.summary.update:
                _set(summary, _path(item), json.loads(item.value_json))
            for item in rec.summary.remove:
                _drop(summary, _path(item))
        elif which == "history":
            row: dict[str, Any] = {}
            for item in rec.history.item:
                row[".".join(_path(item))] = json.loads(item.value_json)
            _history(run, row, n_history)
            n_history += 1
        elif which in ("output_raw", "output"):
            out = getattr(rec, which)
            at = out.timestamp.seconds + out.timestamp.nanos / 1e9
            for line in out.line.splitlines():
                if line.strip():
                    run.logs.append((at, "stderr" if out.output_type == 0 else "stdout", line))
        elif which == "exit":
            code = rec.exit.exit_code
            run.status = "completed" if code == 0 else "failed"
            run.failure = None if code == 0 else {"reason": "error", "exit_code": code,
                                                  "message": f"exit code {code}"}
            if seen_start and rec.exit.runtime:
                run.end = run.start + rec.exit.runtime
    _fallbacks(folder / "files", run, config, summary, n_history)
    for key in _SYSTEM_KEYS:
        config.pop(key, None)
        summary.pop(key, None)
    run.config = finite_json(config)
    run.summary = finite_json(summary)
    run.name = safe_name(project or "wandb", group, display or run.source_id)
    if group:
        run.parent = f"group:{project}/{group}"
    run.tags = ["wandb", label(f"wandb.project={project}") if project else "wandb",
                label(f"wandb.id={run.source_id}"), *run.tags]
    files = folder / "files"
    if files.is_dir():
        for path in sorted(files.rglob("*")):
            rel = path.relative_to(files).as_posix()
            if path.is_file() and rel not in _OWN_FILES:
                run.files.append((rel, path))
    return run


def _fallbacks(files: Path, run: Foreign, config: dict[str, Any], summary: dict[str, Any],
               n_history: int) -> None:
    """What older W&B versions kept as files, for what the log did not hold."""
    if not config and (files / "config.yaml").is_file():
        try:
            import yaml  # type: ignore[import-untyped]

            loaded = yaml.safe_load((files / "config.yaml").read_text()) or {}
        except Exception:  # no PyYAML, or a broken file: the config is left empty
            loaded = {}
        for key, value in loaded.items():
            config[key] = value.get("value") if isinstance(value, dict) else value
    if not summary and (files / "wandb-summary.json").is_file():
        summary.update(json.loads((files / "wandb-summary.json").read_text()))
    history = files / "wandb-history.jsonl"
    if n_history == 0 and history.is_file():
        for i, line in enumerate(history.read_text().splitlines()):
            if line.strip():
                _history(run, json.loads(line), i)


def group_parents(runs: list[Foreign]) -> list[Foreign]:
    """A parent run (kind ``group``) for each W&B group among ``runs``, ended when its last
    run ended; one of that name and kind already in the store is used instead."""
    parents: dict[str, Foreign] = {}
    for run in runs:
        if run.parent is None:
            continue
        project, _, group = run.parent.removeprefix("group:").partition("/")
        found = parents.get(run.parent)
        if found is None:
            parents[run.parent] = Foreign("wandb", run.parent, safe_name(project, group),
                                          start=run.start, end=run.end or run.start,
                                          kind="group", tags=["wandb"], reuse_by_name=True)
        else:
            found.start = min(found.start, run.start)
            found.end = max(found.end or 0.0, run.end or run.start)
    return list(parents.values())


def run_folders(source: str | os.PathLike[str]) -> list[Path]:
    """The run folders under ``source`` (a ``wandb/`` folder, a folder holding one, or one
    run folder); ``latest-run`` is a link to one of them and is not read twice."""
    path = Path(source).expanduser()
    if any(path.glob("run-*.wandb")):
        return [path]
    if (path / "wandb").is_dir():
        path = path / "wandb"
    if not path.is_dir():
        raise InvalidInput(f"{path} is not a W&B folder", field="source")
    found = {p.resolve(): p for p in sorted(path.iterdir())
             if p.is_dir() and p.name.startswith(("run-", "offline-run-"))}
    return sorted(found.values())


def read(source: str | os.PathLike[str]) -> tuple[list[Foreign], list[str]]:
    """The runs under ``source``, parents first, and the problems of those skipped."""
    runs: list[Foreign] = []
    problems: list[str] = []
    for folder in run_folders(source):
        try:
            runs.append(read_run(folder))
        except (DamagedFile, ValueError, OSError) as exc:
            problems.append(f"{folder.name}: {exc}")
    return [*group_parents(runs), *runs], problems
