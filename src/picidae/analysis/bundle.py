"""Full-fidelity bundles: runs moved between any two stores unchanged, ids kept.

A bundle is a folder::

    bundle.json                  {"format": "picidae-bundle", "version": 1, "runs": [ids]}
    runs/<id>.json               one run: record (with transitions), metrics, logs, artifacts
    blobs/sha256/ab/cdef...      artifact content, laid out as a local artifact store

Metric points travel as packed little-endian arrays (``store.wire``), so every value —
NaN and infinities included — comes back bit for bit. Runs are listed parents first.
Importing skips runs whose id the target already has, so an interrupted import can simply
be run again; each run is imported whole or not at all.

``load_run`` is the one way a run payload enters a store: the SDK, the CLI, the MLflow
importer and the server's import route all use it.
"""

from __future__ import annotations

import json
import time
from array import array
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from picidae.artifacts.base import check_digest
from picidae.artifacts.local import LocalArtifactStore
from picidae.artifacts.registry import for_store, open_artifacts
from picidae.core.fields import clean_loaded, names
from picidae.core.run import LogLine
from picidae.core.validation import clean_key
from picidae.errors import ArtifactNotFound, InvalidInput, PicidaeError, RunNotFound
from picidae.store.base import Batch, RunQuery, SeriesChunk, Store
from picidae.store.capabilities import ImportStore
from picidae.store.wire import pack, unpack

FORMAT = "picidae-bundle"
VERSION = 1
MANIFEST = "bundle.json"
_ID_CHARS = set("0123456789abcdefABCDEF-")
#: The run fields a bundle holds: every field the table carries (``core.fields``).
CARRIED = names(carried=True)


class BlobSource(Protocol):
    """Where an importer reads artifact content from."""

    def open(self, digest: str) -> BinaryIO:
        """A binary stream of the blob (``ArtifactNotFound`` when missing)."""
        ...


def _dumps(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"), allow_nan=True, ensure_ascii=False)


# -- reading a run out of a store -------------------------------------------------------------

def _chunks(store: Store, run_id: str) -> list[dict[str, Any]]:
    """Every metric of the run as packed chunks, one per run of points with one stage."""
    out = []
    for key in store.metric_keys(run_id):
        series = store.metrics(run_id, key)
        start = 0
        n = len(series)
        while start < n:
            stage = series.stages[start]
            end = start
            while end < n and series.stages[end] == stage:
                end += 1
            out.append({"key": key, "stage": stage,
                        "steps": pack(array("q", series.steps[start:end])),
                        "values": pack(array("d", series.values[start:end])),
                        "times": pack(array("d", series.times[start:end]))})
            start = end
    return out


def _artifacts(store: Store, run_id: str) -> list[dict[str, Any]]:
    return [{k: v for k, v in art.items() if k != "id"} for art in store.list_artifacts(run_id)]


def blob_digests(artifact: Mapping[str, Any]) -> list[str]:
    """The blobs an artifact's content is: its digest, or each file's for a folder."""
    if artifact.get("kind") == "folder":
        return [f["digest"] for f in artifact.get("files") or []]
    return [artifact["digest"]]


def run_payload(store: Store, run_id: str) -> dict[str, Any]:
    """Everything about one run, as a bundle stores it."""
    found = store.get_run(run_id)
    record = {name: found.get(name) for name in CARRIED}
    logs = [[ln.time, ln.stream, ln.text] for ln in store.logs(run_id)]
    return {"record": record, "metrics": _chunks(store, run_id), "logs": logs,
            "artifacts": _artifacts(store, run_id)}


def with_descendants(store: Store, run_ids: Iterable[str]) -> list[str]:
    """``run_ids`` and every run below them (children, their children...), each once."""
    seen = dict.fromkeys(run_ids)
    frontier = list(seen)
    while frontier:
        found: list[str] = []
        for lo in range(0, len(frontier), 200):
            part = ", ".join(json.dumps(i) for i in frontier[lo:lo + 200])
            found.extend(r["id"] for r in store.list_runs(RunQuery(
                where=f"parent_id in ({part})", include_archived=True)))
        frontier = [i for i in found if i not in seen]
        seen.update(dict.fromkeys(frontier))
    return list(seen)


def parents_first(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``records`` ordered so that each run comes after its parent (when both are there)."""
    by_id = {r["id"]: r for r in records}
    depth: dict[str, int] = {}

    def level(run_id: str, seen: frozenset[str] = frozenset()) -> int:
        if run_id not in depth:
            parent = by_id[run_id].get("parent_id")
            depth[run_id] = (level(str(parent), seen | {run_id}) + 1
                             if parent in by_id and parent not in seen else 0)
        return depth[run_id]

    return sorted(records, key=lambda r: (level(r["id"]), r["created_at"], r["id"]))


class _StoreBlobs:
    """The blobs of runs in a store: its artifact store, else where each was written."""

    def __init__(self, store: Store) -> None:
        self.candidates: list[Any] = []
        try:
            self.candidates.append(for_store(store))
        except PicidaeError:
            pass

    def open_from(self, digest: str, location: str | None) -> BinaryIO:
        tried = list(self.candidates)
        if location:
            tried.append(open_artifacts(location))
        for astore in tried:
            if astore.exists(digest):
                return astore.open(digest)  # type: ignore[no-any-return]
        where = " or ".join(a.location for a in tried) or "no artifact store"
        raise ArtifactNotFound(f"blob {digest[:12]}… is not in {where}; set "
                               "PICIDAE_ARTIFACTS to where it was stored")


def export_bundle(store: Store, folder: str | Path, run_ids: Iterable[str] | None = None, *,
                  where: str | None = None) -> dict[str, Any]:
    """Write the runs (``run_ids``, else those matching ``where``, else all; always with
    their descendants) and their artifacts' content to ``folder``. Returns ``{folder, runs,
    blobs}``."""
    root = Path(folder).expanduser()
    if root.exists() and any(root.iterdir()):
        raise InvalidInput(f"{root} is not empty: export a bundle to a new folder",
                           field="folder")
    if run_ids is None:
        chosen = [r["id"] for r in store.list_runs(RunQuery(where=where,
                                                            include_archived=True))]
    else:
        chosen = [store.get_run(run_id)["id"] for run_id in run_ids]
    ids = with_descendants(store, chosen)
    (root / "runs").mkdir(parents=True, exist_ok=True)
    blobs = LocalArtifactStore(root)
    source = _StoreBlobs(store)
    written: list[dict[str, Any]] = []
    copied = 0
    for run_id in ids:
        payload = run_payload(store, run_id)
        for art in payload["artifacts"]:
            for digest in blob_digests(art):
                if blobs.exists(digest):
                    continue
                with source.open_from(digest, art.get("location")) as stream:
                    blob = blobs.put(stream)
                if blob.digest != digest:
                    blobs.delete(blob.digest)
                    raise ArtifactNotFound(f"blob {digest[:12]}… of run {run_id} does not "
                                           "match its digest in the artifact store")
                copied += 1
        (root / "runs" / f"{run_id}.json").write_text(_dumps(payload), encoding="utf-8")
        written.append(payload["record"])
    order = [r["id"] for r in parents_first(written)]
    manifest = {"format": FORMAT, "version": VERSION, "created_at": time.time(),
                "runs": order, "blobs": copied}
    (root / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return {"folder": str(root), "runs": order, "blobs": copied}


# -- putting a run into a store ---------------------------------------------------------------

def _id(value: Any, field: str) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= 36 or not set(value) <= _ID_CHARS:
        raise InvalidInput(f"{field} must be a run id (up to 36 hex digits and dashes), got "
                           f"{value!r}", field=field)
    return value


def clean_imported(record: Mapping[str, Any]) -> dict[str, Any]:
    """A checked copy of an imported run record: every field the table carries
    (``core.fields.clean_loaded``: ids, name, states, times, transitions and the JSON
    sections validated); what the store keeps or derives itself (workspace, duration)
    dropped; ``root_id`` defaults to the run's own id."""
    if not isinstance(record, Mapping):
        raise InvalidInput("record must be an object", field="record")
    out = clean_loaded(record)
    out["root_id"] = out["root_id"] or out["id"]
    return out


def _series(item: Mapping[str, Any], i: int) -> SeriesChunk:
    where = f"metrics[{i}]"
    if not isinstance(item, Mapping) or not isinstance(item.get("key"), str):
        raise InvalidInput(f"{where} needs a string key", field=where)
    steps = unpack("q", item.get("steps", ""), f"{where}.steps")
    values = unpack("d", item.get("values", ""), f"{where}.values")
    times = unpack("d", item.get("times", ""), f"{where}.times")
    if not len(steps) == len(values) == len(times):
        raise InvalidInput(f"{where}: steps, values and times differ in length", field=where)
    if any(step < 0 for step in steps):
        raise InvalidInput(f"{where}: steps must be non-negative", field=f"{where}.steps")
    stage = item.get("stage")
    if stage is not None and not isinstance(stage, str):
        raise InvalidInput(f"{where}.stage must be a string", field=f"{where}.stage")
    return SeriesChunk(clean_key(item["key"], f"{where}.key"), stage, steps, values, times)


def load_run(store: Store, payload: Mapping[str, Any]) -> dict[str, Any]:
    """Put one run payload (as ``run_payload`` makes it) into ``store`` with its id, whole
    or not at all; artifact content must already be in the store's artifact store. Returns
    the stored record. ``InvalidInput`` when the id exists already."""
    if isinstance(store, ImportStore):
        return store.import_run(dict(payload))
    record = clean_imported(payload.get("record") or {})
    chunks = [_series(item, i) for i, item in enumerate(payload.get("metrics") or [])]
    logs = []
    for i, line in enumerate(payload.get("logs") or []):
        if (not isinstance(line, list | tuple) or len(line) != 3
                or isinstance(line[0], bool) or not isinstance(line[0], int | float)
                or not isinstance(line[1], str) or not isinstance(line[2], str)):
            raise InvalidInput(f"logs[{i}] must be [time, stream, text]", field=f"logs[{i}]")
        logs.append(LogLine(float(line[0]), line[1], line[2]))
    run_id = record["id"]
    store.create_run(record)
    try:
        if chunks or logs:
            # The imported run may have ended: its own data is part of importing it.
            store.write(run_id, Batch(chunks=chunks, logs=logs, backfill=True))
        for art in payload.get("artifacts") or []:
            store.add_artifact(run_id, {k: v for k, v in art.items() if k != "id"},
                               backfill=True)
    except BaseException:
        store.delete_runs([run_id])
        raise
    return store.get_run(run_id)


def _exists(store: Store, run_id: str) -> bool:
    try:
        store.get_run(run_id)
    except RunNotFound:
        return False
    return True


def import_payloads(store: Store, payloads: Iterable[Mapping[str, Any]],
                    source: BlobSource | None) -> dict[str, Any]:
    """Import run payloads (parents first) into ``store``, copying their blobs from
    ``source`` into the store's artifact store; runs already there are skipped. Returns
    ``{imported, skipped, blobs}``."""
    imported: list[str] = []
    skipped: list[str] = []
    target = None
    copied = 0
    for payload in payloads:
        run_id = str((payload.get("record") or {}).get("id"))
        if _exists(store, run_id):
            skipped.append(run_id)
            continue
        arts = [dict(a) for a in payload.get("artifacts") or []]
        if arts:
            if source is None:
                raise InvalidInput(f"run {run_id} has artifacts but the source has no "
                                   "content for them", field="artifacts")
            target = target or for_store(store)
            for art in arts:
                for digest in blob_digests(art):
                    if not target.exists(check_digest(digest)):
                        with source.open(digest) as stream:
                            if target.put(stream).digest != digest:
                                raise ArtifactNotFound(f"blob {digest[:12]}… of run {run_id} "
                                                       "does not match its digest")
                        copied += 1
                art["location"] = target.location
        load_run(store, {**payload, "artifacts": arts})
        imported.append(run_id)
    return {"imported": imported, "skipped": skipped, "blobs": copied}


def read_bundle(folder: str | Path) -> tuple[list[str], Iterator[dict[str, Any]]]:
    """A bundle's run ids (parents first) and its payloads, read one at a time."""
    root = Path(folder).expanduser()
    try:
        manifest = json.loads((root / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"{root} is not a Picidae bundle (no readable {MANIFEST}: {exc})",
                           field="folder") from None
    if manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
        raise InvalidInput(f"{root}/{MANIFEST} is not a version-{VERSION} Picidae bundle",
                           field="folder")
    ids = [_id(i, "runs") for i in manifest.get("runs") or []]

    def payloads() -> Iterator[dict[str, Any]]:
        for run_id in ids:
            path = root / "runs" / f"{run_id}.json"
            yield json.loads(path.read_text(encoding="utf-8"))

    return ids, payloads()


def import_bundle(store: Store, folder: str | Path) -> dict[str, Any]:
    """Import a bundle written by ``export_bundle`` (see the module docstring)."""
    _, payloads = read_bundle(folder)
    return import_payloads(store, payloads, LocalArtifactStore(Path(folder).expanduser()))
