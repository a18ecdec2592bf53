"""Getting a claimed run ready to run: a fresh work folder, its code snapshot restored, its
inputs fetched and verified.

Layout of a work folder (``<root>/<run id>/``)::

    code/      the code snapshot, when the run has one (the command runs here)
    inputs/    one entry per input, by name (a symlink to a local path, else a download)
    .picidae/  the managed-run files the SDK leaves for the worker

Inputs are verified by SHA-256 (``artifacts.base.path_digest``: a file's, or a folder's
manifest digest): a local path or ``file://`` URI is checked in place and linked; ``s3://``
and ``http(s)://`` URIs are downloaded; a bare digest is fetched from the artifact store;
``artifact://RUN_ID/NAME`` is a run's artifact. A mismatch fails the run before it starts.
"""

from __future__ import annotations

import shutil
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from picidae.artifacts.base import check_digest, path_digest
from picidae.artifacts.paths import clean_member_path
from picidae.errors import ArtifactCorrupt, InvalidInput, PicidaeError, StoreUnavailable
from picidae.executor.submit import local_input_path
from picidae.store.base import Store


class ProvisionError(PicidaeError):
    """The run cannot be prepared (a snapshot or input missing or corrupt)."""


@dataclass
class Prepared:
    """Where a run runs: its work folder, the folder its command starts in, its inputs."""

    workdir: Path
    cwd: Path
    inputs: dict[str, Path] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def work_folder(root: Path, run_id: str) -> Path:
    """A fresh, empty work folder for ``run_id`` under ``root``."""
    folder = root / run_id
    if folder.exists():
        shutil.rmtree(folder, ignore_errors=True)
    (folder / ".picidae").mkdir(parents=True)
    return folder


def _extract(archive: Path, dest: Path) -> int:
    """Unpack a code snapshot (a gzipped tar) into ``dest``, refusing members that would
    land outside it; returns the number of files."""
    dest.mkdir(parents=True, exist_ok=True)
    count = 0
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar.getmembers():
            if not (member.isreg() or member.isdir()):
                continue  # links and devices are not part of a snapshot
            clean_member_path(member.name)
        tar.extractall(dest, filter="data")
        count = sum(1 for m in tar.getmembers() if m.isreg())
    return count


def restore_snapshot(store: Store, rec: dict[str, Any], dest: Path) -> int | None:
    """Restore ``rec``'s code snapshot into ``dest``; the number of files, or ``None`` when
    the run has none. The blob is fetched by digest and checked."""
    snap = (rec.get("code") or {}).get("snapshot") if isinstance(rec.get("code"), dict) else None
    if not isinstance(snap, dict) or not snap.get("digest"):
        return None
    digest = check_digest(snap["digest"])
    try:
        from picidae.artifacts.registry import for_store, open_artifacts
    except ImportError:  # artifacts not installed in this build: run without the snapshot
        return None
    candidates: list[Any] = []
    try:
        candidates.append(for_store(store))
    except PicidaeError:
        pass
    for art in store.list_artifacts(rec["id"]):
        if art.get("digest") == digest and art.get("location"):
            candidates.append(open_artifacts(art["location"]))
    archive = dest.parent / ".picidae" / "snapshot.tar.gz"
    for astore in candidates:
        if astore.exists(digest):
            astore.get(digest, archive)
            try:
                return _extract(archive, dest)
            finally:
                archive.unlink(missing_ok=True)
    raise ProvisionError(f"the code snapshot (sha256 {digest[:12]}…) is not in "
                         f"{' or '.join(a.location for a in candidates) or 'any artifact store'}"
                         "; set PICIDAE_ARTIFACTS to where it was stored")


def _download(uri: str, dest: Path, digest: str | None, what: str) -> None:
    if uri.lower().startswith(("http://", "https://")):
        import httpx

        tmp = dest.with_name(f".{dest.name}.part")
        with httpx.stream("GET", uri, follow_redirects=True, timeout=60) as response:
            if response.status_code >= 400:
                raise ProvisionError(f"{what}: GET {uri} answered {response.status_code}")
            with open(tmp, "wb") as out:
                for chunk in response.iter_bytes():
                    out.write(chunk)
        tmp.replace(dest)
    elif uri.lower().startswith("s3://"):
        try:
            import boto3
        except ImportError:
            from picidae.errors import MissingDependency

            raise MissingDependency("boto3", "s3") from None
        bucket, _, key = uri[5:].partition("/")
        boto3.client("s3").download_file(bucket, key, str(dest))
    else:
        raise ProvisionError(f"{what}: cannot fetch {uri!r} (use a path, file://, s3://, "
                             "http(s):// or artifact://RUN_ID/NAME)")


def sync_input(store: Store, item: dict[str, Any], folder: Path) -> tuple[Path, str]:
    """Fetch one input into ``folder`` and verify it; returns its path and digest."""
    name = item["name"]
    what = f"input {name!r}"
    dest = folder / clean_member_path(name)
    dest.parent.mkdir(parents=True, exist_ok=True)
    uri, digest = item.get("uri"), item.get("digest")
    if uri and uri.startswith("artifact://"):
        from picidae.sdk.view import RunView

        run_id, _, art_name = uri[len("artifact://"):].partition("/")
        art = RunView(store, store.get_run(run_id)).artifact(art_name)
        art.download(dest)  # checks the artifact's own digest
    elif uri and local_input_path(uri) is not None:
        src = local_input_path(uri)
        assert src is not None
        if not src.exists():
            raise ProvisionError(f"{what}: {src} does not exist on this machine")
        dest.symlink_to(src.resolve(), target_is_directory=src.is_dir())
    elif uri:
        _download(uri, dest, digest, what)
    else:
        from picidae.artifacts.registry import for_store

        try:
            astore = for_store(store)
        except StoreUnavailable as exc:
            raise ProvisionError(f"{what}: {exc}") from exc
        try:
            astore.get(check_digest(digest or ""), dest)
        except ArtifactCorrupt as exc:
            raise ProvisionError(f"{what}: {exc}") from exc
    got = path_digest(dest)
    if digest is not None and got != digest:
        raise ProvisionError(f"{what}: digest mismatch (expected sha256 {digest[:12]}…, got "
                             f"{got[:12]}…); the data changed since the run was submitted")
    return dest, got


def prepare(store: Store, rec: dict[str, Any], root: Path) -> Prepared:
    """The provisioning step: a fresh work folder and the code snapshot restored. The
    command starts in the snapshot, else in the submit folder if it exists here, else in
    the work folder."""
    workdir = work_folder(root, rec["id"])
    files = restore_snapshot(store, rec, workdir / "code")
    notes = []
    if files is not None:
        cwd = workdir / "code"
        notes.append(f"restored the code snapshot ({files} files) into {cwd}")
    else:
        wanted = (rec.get("execution") or {}).get("cwd")
        cwd = Path(wanted) if wanted and Path(wanted).is_dir() else workdir
    return Prepared(workdir=workdir, cwd=cwd, notes=notes)


def sync_inputs(store: Store, rec: dict[str, Any], ready: Prepared) -> list[dict[str, Any]]:
    """The syncing_data step: every input fetched into ``inputs/`` and verified. Returns the
    inputs with the digests found (so a run submitted without one records it)."""
    out = []
    for item in rec.get("inputs") or []:
        if not isinstance(item, dict) or not item.get("name"):
            raise InvalidInput(f"run {rec['id']} has a malformed input {item!r}",
                               field="inputs")
        path, digest = sync_input(store, item, ready.workdir / "inputs")
        ready.inputs[item["name"]] = path
        ready.notes.append(f"input {item['name']!r} verified (sha256 {digest[:12]}…) at "
                           f"{path}")
        out.append({**item, "digest": digest})
    return out
