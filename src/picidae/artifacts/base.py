"""The ``ArtifactStore`` protocol and what every backend shares: SHA-256 hashing in chunks,
folder listings and digests, and a reader that checks a digest as it streams.

Content is addressed by its SHA-256 (lower-case hex): a blob's key is its digest, so the same
bytes logged by a hundred runs are stored once. Which run logged what, under which name, is
metadata in the run store (the ``artifacts`` table); the artifact store only holds blobs.

A folder's digest is the SHA-256 of its manifest: one ``<sha256>  <relative/path>\\n`` line per
file (the ``sha256sum`` format), sorted by path, then one ``link "<target>"  <path>\n`` line
per symbolic link (JSON-quoted target), sorted by path; a folder without links hashes as
before links were recorded. ``use_input`` on a folder and a folder artifact of the same
content get the same digest.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, BinaryIO, Protocol, runtime_checkable

from picidae.artifacts.paths import clean_member_path
from picidae.errors import ArtifactCorrupt

#: Bytes read or written at a time: large files are streamed, never read whole.
CHUNK = 1024 * 1024

Source = Path | str | bytes | IO[bytes]


@dataclass(frozen=True)
class Blob:
    """A stored blob: its SHA-256 ``digest`` (hex) and ``size`` in bytes; ``created`` is
    False when the store had it already (deduplicated)."""

    digest: str
    size: int
    created: bool = True


@runtime_checkable
class ArtifactStore(Protocol):
    """Where artifact content lives, addressed by SHA-256. Thread-safe; synchronous."""

    #: The root, as configured: a folder path or ``s3://bucket/prefix``.
    location: str

    def put(self, source: Source) -> Blob:
        """Store the content of a file (a path), of bytes or of a binary stream, streaming it
        in chunks while hashing; a blob already present is not stored again. Atomic: a
        reader never sees a partial blob."""
        ...

    def exists(self, digest: str) -> bool:
        """Whether a blob with this digest is stored."""
        ...

    def open(self, digest: str) -> BinaryIO:
        """A binary stream of the blob's content (``ArtifactNotFound`` when missing)."""
        ...

    def get(self, digest: str, dest: Path) -> Path:
        """Write the blob to ``dest`` (atomically, through a temporary file beside it),
        checking the digest; ``ArtifactCorrupt`` when it does not match, nothing written."""
        ...

    def delete(self, digest: str) -> bool:
        """Remove a blob; whether it was there. (Other runs may share it: callers check.)"""
        ...

    def url(self, digest: str) -> str:
        """Where the blob is: a ``file://`` or ``s3://`` URL."""
        ...


def check_digest(digest: str) -> str:
    """``digest`` if it is 64 lower-case hex characters (so it is safe in a path or key)."""
    if not (isinstance(digest, str) and len(digest) == 64
            and all(c in "0123456789abcdef" for c in digest)):
        raise ValueError(f"not a SHA-256 hex digest: {digest!r}")
    return digest


def blob_key(digest: str) -> str:
    """The blob's relative key: ``blobs/sha256/ab/cdef...``."""
    check_digest(digest)
    return f"blobs/sha256/{digest[:2]}/{digest[2:]}"


def sha256_file(path: Path) -> tuple[str, int]:
    """The SHA-256 hex digest and size of a file, read in chunks."""
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


def scan_folder(root: Path) -> tuple[list[tuple[str, Path]], list[tuple[str, str]]]:
    """A folder's regular files, ``(relative/path, absolute path)``, and its symbolic links,
    ``(relative/path, target as written)``, each sorted by path. No link is ever followed,
    whether it points inside the folder or out of it (a link to ``/etc/passwd`` is recorded
    as that link, never as the file's content); other special files (pipes, sockets,
    devices) are left out. Every path is checked with the artifact path rules."""
    files: list[tuple[str, Path]] = []
    links: list[tuple[str, str]] = []
    for folder, dirs, names in os.walk(root):  # never descends into a linked folder
        base = Path(folder)
        dirs.sort()
        for name in [*dirs, *names]:
            full = base / name
            rel = full.relative_to(root).as_posix()
            if full.is_symlink():
                links.append((clean_member_path(rel), os.readlink(full)))
            elif name in names and full.is_file():
                files.append((clean_member_path(rel), full))
    files.sort(key=lambda item: item[0].encode())
    links.sort(key=lambda item: item[0].encode())
    return files, links


def iter_folder(root: Path) -> Iterator[tuple[str, Path]]:
    """``(relative/path, absolute path)`` of every regular file under ``root``, sorted by
    path; symbolic links are not followed (see ``scan_folder``)."""
    return iter(scan_folder(root)[0])


def manifest_digest(files: list[tuple[str, str]],
                    links: list[tuple[str, str]] | None = None) -> str:
    """The digest of a folder from ``(path, digest)`` pairs and ``(path, target)`` links
    (see the module docstring)."""
    lines = "".join(f"{digest}  {path}\n"
                    for path, digest in sorted(files, key=lambda f: f[0].encode()))
    lines += "".join(f"link {json.dumps(target)}  {path}\n"
                     for path, target in sorted(links or [], key=lambda f: f[0].encode()))
    return hashlib.sha256(lines.encode()).hexdigest()


def folder_digest(root: Path) -> tuple[str, int, int]:
    """The digest, total size and file count of a folder."""
    pairs = []
    total = 0
    files, links = scan_folder(root)
    for rel, full in files:
        digest, size = sha256_file(full)
        pairs.append((rel, digest))
        total += size
    return manifest_digest(pairs, links), total, len(pairs)


def path_digest(path: Path) -> str:
    """The digest of a file or a folder."""
    return folder_digest(path)[0] if path.is_dir() else sha256_file(path)[0]


class VerifyingReader:
    """Wraps a binary stream; hashes what is read and raises ``ArtifactCorrupt`` at the end
    of the stream when the content does not match ``digest`` (or ``size``)."""

    def __init__(self, raw: Any, digest: str, size: int | None, what: str) -> None:
        self._raw = raw
        self._digest = digest
        self._size = size
        self._what = what
        self._hash = hashlib.sha256()
        self._read = 0
        self._checked = False

    def read(self, n: int = -1) -> bytes:
        """Read up to ``n`` bytes (all when ``n`` < 0), checking the digest at the end."""
        data = self._raw.read() if n is None or n < 0 else self._raw.read(n)
        if data:
            self._hash.update(data)
            self._read += len(data)
        if not data or n is None or n < 0:
            self._check()
        return bytes(data)

    def _check(self) -> None:
        if self._checked:
            return
        self._checked = True
        got = self._hash.hexdigest()
        if got != self._digest or (self._size is not None and self._read != self._size):
            raise ArtifactCorrupt(
                f"{self._what}: content does not match its digest (expected sha256 "
                f"{self._digest[:12]}… of {self._size} bytes, read {got[:12]}… of "
                f"{self._read} bytes)")

    def readable(self) -> bool:
        """Always True."""
        return True

    def close(self) -> None:
        """Close the underlying stream."""
        self._raw.close()

    def __enter__(self) -> VerifyingReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[bytes]:
        while chunk := self.read(CHUNK):
            yield chunk


def copy_verified(src: Any, dest: Path, digest: str, what: str) -> Path:
    """Stream ``src`` into ``dest`` through a temporary file beside it, then rename it into
    place if the content matches ``digest``; on a mismatch nothing is left at ``dest``."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.{id(src):x}.part")
    h = hashlib.sha256()
    try:
        with open(tmp, "wb") as out:
            while chunk := src.read(CHUNK):
                h.update(chunk)
                out.write(chunk)
        if h.hexdigest() != digest:
            raise ArtifactCorrupt(f"{what}: downloaded content does not match its digest "
                                  f"(expected sha256 {digest[:12]}…, got "
                                  f"{h.hexdigest()[:12]}…); nothing was written to {dest}")
        os.replace(tmp, dest)
    finally:
        if tmp.exists():
            tmp.unlink()
    return dest
