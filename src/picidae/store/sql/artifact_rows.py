"""Artifact metadata rows: writing one logical artifact and reading a run's back.

A file or image artifact is one row. A folder artifact is a head row (``path`` NULL, the
folder's manifest digest and total size) plus one row per file, pointing at the head row by
``parent_id``; reading puts them back together as one artifact with ``files`` (and ``links``,
the folder's symbolic links as ``{path, target}``, kept in the head row's metadata). The
Store API speaks logical artifacts, so the HTTP store and server pass them through unchanged.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select

from picidae.artifacts.paths import clean_artifact_name, clean_member_path
from picidae.errors import InvalidInput
from picidae.store.sql.tables import artifacts, runs

KINDS = ("file", "folder", "image")

#: The metadata key of a folder's symbolic links in its head row.
LINKS = "__links__"

_LIST = (select(artifacts).where(artifacts.c.run_id == bindparam("b_id"))
         .order_by(artifacts.c.id))


def _digest(value: Any, field: str) -> str:
    if not (isinstance(value, str) and len(value) == 64
            and all(c in "0123456789abcdef" for c in value)):
        raise InvalidInput(f"artifact {field} must be a SHA-256 hex digest, got {value!r}",
                           field=field)
    return value


def _size(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidInput(f"artifact {field} must be a non-negative int, got {value!r}",
                           field=field)
    return value


def clean_record(record: dict[str, Any]) -> dict[str, Any]:
    """A checked copy of an artifact record (what ``Store.add_artifact`` takes)."""
    kind = record.get("kind") or "file"
    if kind not in KINDS:
        raise InvalidInput(f"artifact kind must be one of {', '.join(KINDS)}, got {kind!r}",
                           field="kind")
    step = record.get("step")
    if step is not None:
        _size(step, "step")
    art_type = record.get("type")
    if art_type is not None and (not isinstance(art_type, str) or len(art_type) > 64):
        raise InvalidInput("artifact type must be a string of at most 64 characters",
                           field="type")
    meta = record.get("metadata")
    if meta is not None and not isinstance(meta, dict):
        raise InvalidInput("artifact metadata must be a dict", field="metadata")
    created = record.get("created_at")
    if not isinstance(created, int | float) or isinstance(created, bool):
        raise InvalidInput("artifact created_at must be epoch seconds", field="created_at")
    out = {
        "name": clean_artifact_name(record.get("name")),
        "type": art_type,
        "kind": kind,
        "digest": _digest(record.get("digest"), "digest"),
        "size": _size(record.get("size"), "size"),
        "step": step,
        "created_at": float(created),
        "caption": record.get("caption"),
        "metadata": {k: v for k, v in (meta or {}).items() if k != LINKS},
        "location": record.get("location"),
    }
    if kind == "folder":
        files = record.get("files")
        if not isinstance(files, list):
            raise InvalidInput("a folder artifact needs its files: [{path, digest, size}]",
                               field="files")
        for i, f in enumerate(files):
            if not isinstance(f, dict):
                raise InvalidInput(f"files[{i}] must be an object {{path, digest, size}}, got "
                                   f"{type(f).__name__}", field=f"files[{i}]")
        out["files"] = [{"path": clean_member_path(f.get("path")),
                         "digest": _digest(f.get("digest"), "files.digest"),
                         "size": _size(f.get("size"), "files.size")} for f in files]
        links = _links(record.get("links"))
        if links:
            out["links"] = links
    return out


def _links(value: Any) -> list[dict[str, str]]:
    """A folder's symbolic links, checked: ``[{path, target}]`` (targets are kept as
    written, never resolved; see ``artifacts.base.scan_folder``)."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidInput("links must be a list of {path, target}", field="links")
    out = []
    for i, link in enumerate(value):
        target = link.get("target") if isinstance(link, dict) else None
        if not isinstance(target, str) or not 0 < len(target) <= 4096 or "\x00" in target:
            raise InvalidInput(f"links[{i}] must be {{path, target}} with a target of 1 to "
                               "4096 characters", field=f"links[{i}]")
        out.append({"path": clean_member_path(link.get("path")), "target": target})
    return out


def _metadata(rec: dict[str, Any]) -> str | None:
    """The head row's metadata column: the record's metadata, and a folder's links (kept
    there, under ``LINKS``, so no column is needed for them)."""
    meta = dict(rec["metadata"])
    if rec.get("links"):
        meta[LINKS] = rec["links"]
    return json.dumps(meta) if meta else None


def insert_artifact(conn: Connection, run_id: str, rec: dict[str, Any]) -> dict[str, Any]:
    """Insert a checked record (see ``clean_record``); returns it with its ``id``."""
    row = {"run_id": run_id, "name": rec["name"], "type": rec["type"], "kind": rec["kind"],
           "path": None, "parent_id": None, "digest": rec["digest"], "size": rec["size"],
           "step": rec["step"], "created_at": rec["created_at"], "caption": rec["caption"],
           "metadata": _metadata(rec),
           "location": rec["location"]}
    inserted = conn.execute(insert(artifacts), row).inserted_primary_key
    assert inserted is not None
    head_id = inserted[0]
    files = rec.get("files")
    if files:
        conn.execute(insert(artifacts), [
            {**row, "path": f["path"], "parent_id": head_id, "digest": f["digest"],
             "size": f["size"], "metadata": None} for f in files])
    return {"id": head_id, **rec}


def read_artifacts(conn: Connection, run_id: str) -> list[dict[str, Any]]:
    """A run's artifacts in the order they were logged (``created_at``); folders with
    their ``files`` sorted by path."""
    out: list[dict[str, Any]] = []
    heads: dict[int, dict[str, Any]] = {}
    for r in conn.execute(_LIST, {"b_id": run_id}):
        if r.parent_id is not None:
            head = heads.get(r.parent_id)
            if head is not None:
                head["files"].append({"path": r.path, "digest": r.digest, "size": r.size})
            continue
        rec = {"id": r.id, "name": r.name, "type": r.type, "kind": r.kind, "digest": r.digest,
               "size": r.size, "step": r.step, "created_at": r.created_at,
               "caption": r.caption,
               "metadata": json.loads(r.metadata) if r.metadata else {},
               "location": r.location}
        if r.kind == "folder":
            rec["files"] = []
            links = rec["metadata"].pop(LINKS, None)
            if links:
                rec["links"] = links
            heads[r.id] = rec
        out.append(rec)
    for head in heads.values():
        head["files"].sort(key=lambda f: f["path"].encode())
    # Uploads finish in any order; list them in the order they were logged.
    out.sort(key=lambda rec: (rec["created_at"], rec["id"]))
    return out


def referenced(conn: Connection, workspace: str, digest: str) -> bool:
    """Whether an artifact row of a run of ``workspace`` has this content digest."""
    stmt = (select(artifacts.c.id).join(runs, runs.c.id == artifacts.c.run_id)
            .where(artifacts.c.digest == digest, runs.c.workspace == workspace).limit(1))
    return conn.execute(stmt).first() is not None
