"""What ``log_artifact``, ``log_image`` and ``use_input`` do.

Each checks its arguments on the caller's thread — a bad name, a missing file or an image of
the wrong shape raises at once, naming what is wrong — then hands the slow part (hashing,
copying, uploading, encoding) to the run's background jobs (``sdk.background``).

Folders: every file is stored as its own blob (so unchanged files are shared between
versions and runs) and the folder is recorded as one artifact whose digest is that of its
manifest (see ``picidae.artifacts.base``), with one metadata row per file. Symbolic links
inside the folder are recorded as links (path and target), never followed.
"""

from __future__ import annotations

import functools
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from picidae.artifacts.base import Blob, manifest_digest, path_digest, scan_folder
from picidae.artifacts.paths import clean_artifact_name
from picidae.core.validation import clean_key, clean_label, clean_step
from picidae.errors import InvalidInput
from picidae.sdk.background import retry

if TYPE_CHECKING:
    from picidae.sdk.background import Background
    from picidae.sdk.run import Run


def local_path(value: Any, field: str, what: str) -> Path:
    """An existing file or folder, or ``InvalidInput`` naming the path."""
    if not isinstance(value, str | os.PathLike):
        raise InvalidInput(f"{what} takes a path, got {type(value).__name__}", field=field)
    path = Path(value).expanduser()
    if not path.exists():
        raise InvalidInput(f"{what}: no such file or folder: {path}", field=field)
    if not (path.is_file() or path.is_dir()):
        raise InvalidInput(f"{what}: {path} is neither a file nor a folder", field=field)
    return path.resolve()


def _version(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    return clean_label(value, "version")


def current_step(run: Run) -> int:
    """The step of the latest ``log`` call (0 before any)."""
    return max(run._step - 1, 0)


def log_artifact(run: Run, path: Any, name: str | None, type: str | None, *,
                 version: Any = None, output: bool = False) -> None:
    """Check now, store in the background (see the module docstring)."""
    src = local_path(path, "path", "log_artifact")
    art_name = clean_artifact_name(name if name is not None else src.name)
    art_type = clean_label(type, "type", max_len=64)
    ver = _version(version)
    as_output = output or ver is not None
    if as_output:
        clean_key(art_name, "output name")
    bg = run._background
    kind = "folder" if src.is_dir() else "file"
    logged_at = time.time()
    bg.submit(f"artifact {art_name!r} ({src})",
              lambda: _store_path(run, bg, src, art_name, art_type, kind, ver, as_output,
                                  logged_at))


def _store_path(run: Run, bg: Background, src: Path, name: str, art_type: str | None,
                kind: str, version: str | None, as_output: bool, logged_at: float) -> None:
    astore = bg.artifact_store()
    record: dict[str, Any] = {"name": name, "type": art_type, "kind": kind, "step": None,
                              "caption": None, "metadata": {}, "location": astore.location,
                              "created_at": logged_at}
    if kind == "folder":
        files: list[dict[str, Any]] = []
        members, links = scan_folder(src)
        for rel, full in members:
            blob = retry(f"storing {rel}", functools.partial(astore.put, full))
            files.append({"path": rel, "digest": blob.digest, "size": blob.size})
        record["files"] = files
        if links:
            record["links"] = [{"path": rel, "target": target} for rel, target in links]
        record["digest"] = manifest_digest([(f["path"], f["digest"]) for f in files], links)
        record["size"] = sum(f["size"] for f in files)
    else:
        blob = retry(f"storing {src}", lambda: astore.put(src))
        record["digest"], record["size"] = blob.digest, blob.size
    if version is not None:
        record["metadata"]["version"] = version
    add_record(run, record)
    if as_output:
        bg.set_output(name, {"artifact": name, "version": version, "digest": record["digest"],
                             "size": record["size"], "type": art_type})


def add_record(run: Run, record: dict[str, Any]) -> dict[str, Any]:
    """Record an artifact whose content is stored (retried like the upload)."""
    record.setdefault("created_at", time.time())
    stored: dict[str, Any] = retry(f"recording artifact {record['name']!r}",
                                   lambda: run.store.add_artifact(run.id, record))
    return stored


def store_bytes(run: Run, name: str, data: bytes, *, type: str, kind: str = "file",
                step: int | None = None, caption: str | None = None,
                metadata: dict[str, Any] | None = None,
                created_at: float | None = None) -> Blob:
    """Store ``data`` as an artifact of the run (called from background jobs)."""
    astore = run._background.artifact_store()
    blob = retry(f"storing {name}", lambda: astore.put(data))
    add_record(run, {"name": name, "type": type, "kind": kind, "digest": blob.digest,
                     "size": blob.size, "step": step, "caption": caption,
                     "metadata": metadata or {}, "location": astore.location,
                     "created_at": time.time() if created_at is None else created_at})
    return blob


def log_image(run: Run, key: str, image: Any, caption: str | None, step: int | None) -> None:
    """Check and copy the image now; encode and store the PNG in the background."""
    from picidae.sdk import images

    name = clean_artifact_name(clean_key(key, "image key"), "image key")
    if caption is not None and not isinstance(caption, str):
        raise InvalidInput(f"caption must be a string, got {type(caption).__name__}",
                           field="caption")
    at_step = current_step(run) if step is None else clean_step(step)
    encode = images.prepare(image)
    logged_at = time.time()

    def job() -> None:
        png, meta = encode()
        store_bytes(run, name, png, type="image", kind="image", step=at_step,
                    caption=caption, metadata=meta, created_at=logged_at)

    run._background.submit(f"image {name!r} at step {at_step}", job)


def input_entry(name: Any, version: Any, path_or_uri: Any,
                digest: Any = None) -> tuple[dict[str, Any], Path | None]:
    """A checked input record ``{name, version, digest, uri}`` and the local file or folder
    whose digest is still to be computed (``None`` for a URI or a given digest)."""
    clean_key(name, "input name")
    if digest is not None and not isinstance(digest, str):
        raise InvalidInput(f"digest must be a string, got {type(digest).__name__}",
                           field="digest")
    entry: dict[str, Any] = {"name": name, "version": _version(version), "digest": digest,
                             "uri": None}
    if path_or_uri is None:
        return entry, None
    text = os.fspath(path_or_uri) if isinstance(path_or_uri, os.PathLike) else path_or_uri
    if not isinstance(text, str) or not text:
        raise InvalidInput(f"path_or_uri must be a path or URI string, got {path_or_uri!r}",
                           field="path_or_uri")
    if "://" in text and not text.lower().startswith("file://"):
        entry["uri"] = text
        return entry, None
    if text.lower().startswith("file://"):
        from urllib.parse import unquote, urlparse

        text = unquote(urlparse(text).path)
    src = local_path(text, "path_or_uri", f"use_input {name!r}")
    entry["uri"] = src.as_uri()
    return entry, (src if digest is None else None)


def use_input(run: Run, name: Any, version: Any, path_or_uri: Any,
              digest: Any = None) -> None:
    """Record an input now; a local file or folder's digest is computed in the background."""
    entry, src = input_entry(name, version, path_or_uri, digest)
    bg = run._background
    bg.set_input(entry)
    if src is not None:
        def job() -> None:
            bg.set_input({**entry, "digest": path_digest(src)})

        bg.submit(f"input {name!r} digest ({src})", job)
