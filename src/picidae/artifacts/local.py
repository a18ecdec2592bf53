"""Artifacts in a local folder: ``<root>/blobs/sha256/ab/cdef...``, one file per distinct
content. The default root is ``artifacts/`` beside the embedded store's ``picidae.db``.

Writes are atomic: content is streamed into ``<root>/tmp/`` while it is hashed, flushed to
disk, then renamed into place, so a reader (or a crash) never sees a partial blob. Two
processes storing the same content at once both succeed; the rename makes one of them win.
Blobs are made read-only so an accidental edit does not corrupt every run sharing them.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from pathlib import Path
from typing import IO, BinaryIO

from picidae.artifacts.base import CHUNK, Blob, Source, blob_key, copy_verified, sha256_file
from picidae.errors import ArtifactNotFound, StoreUnavailable


class LocalArtifactStore:
    """Content-addressed blobs in a folder (see the module docstring)."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root).expanduser().resolve()
        self.location = str(self.root)

    def __repr__(self) -> str:
        return f"LocalArtifactStore({self.location!r})"

    def _path(self, digest: str) -> Path:
        return self.root / blob_key(digest)

    def put(self, source: Source) -> Blob:
        """See ``ArtifactStore.put``. A file path is hashed first, so content already stored
        is never copied again; its digest is checked again while copying, so a file changed
        meanwhile is refused rather than stored under the wrong digest."""
        if isinstance(source, str | Path):
            path = Path(source)
            digest, size = sha256_file(path)
            if self._path(digest).is_file():
                return Blob(digest, size, created=False)
            with open(path, "rb") as f:
                blob = self._write(f)
            if blob.digest != digest:
                raise OSError(f"{path} changed while it was being stored; log it again once "
                              "it is complete")
            return blob
        if isinstance(source, bytes | bytearray | memoryview):
            data = bytes(source)
            digest = hashlib.sha256(data).hexdigest()
            if self._path(digest).is_file():
                return Blob(digest, len(data), created=False)
            return self._write(io.BytesIO(data))
        return self._write(source)

    def _write(self, stream: IO[bytes]) -> Blob:
        tmp_dir = self.root / "tmp"
        try:
            tmp_dir.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(dir=tmp_dir, prefix="put-", suffix=".part")
        except OSError as exc:
            raise StoreUnavailable(f"cannot write artifacts under {self.root}: {exc}") from exc
        tmp = Path(tmp_name)
        h = hashlib.sha256()
        size = 0
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := stream.read(CHUNK):
                    h.update(chunk)
                    size += len(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            digest = h.hexdigest()
            final = self._path(digest)
            if final.is_file():
                return Blob(digest, size, created=False)
            final.parent.mkdir(parents=True, exist_ok=True)
            os.chmod(tmp, 0o444)
            os.replace(tmp, final)
            return Blob(digest, size, created=True)
        finally:
            if tmp.exists():
                tmp.unlink()

    def exists(self, digest: str) -> bool:
        """See ``ArtifactStore.exists``."""
        return self._path(digest).is_file()

    def open(self, digest: str) -> BinaryIO:
        """See ``ArtifactStore.open``."""
        try:
            return open(self._path(digest), "rb")
        except FileNotFoundError:
            raise ArtifactNotFound(f"blob {digest} is not in {self.location}") from None

    def get(self, digest: str, dest: Path) -> Path:
        """See ``ArtifactStore.get``."""
        with self.open(digest) as src:
            return copy_verified(src, Path(dest), digest, f"blob {digest[:12]}…")

    def delete(self, digest: str) -> bool:
        """See ``ArtifactStore.delete``."""
        try:
            self._path(digest).unlink()
        except FileNotFoundError:
            return False
        return True

    def url(self, digest: str) -> str:
        """See ``ArtifactStore.url``."""
        return self._path(digest).as_uri()
