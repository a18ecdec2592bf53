"""Artifacts through a Picidae server: the ``ArtifactStore`` protocol over ``/api/v1/blobs``.

Used automatically when the run store is ``http(s)://...`` and ``PICIDAE_ARTIFACTS`` is not
set: the client hashes the content, asks whether the server has it (``HEAD``), and streams it
up only when it does not — so content logged by many runs crosses the network once.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from pathlib import Path
from typing import IO, Any, BinaryIO

import httpx

from picidae.artifacts.base import CHUNK, Blob, Source, check_digest, copy_verified, sha256_file
from picidae.errors import ArtifactNotFound, StoreUnavailable, from_body


class HttpArtifactStore:
    """Blobs kept by a Picidae server (see the module docstring)."""

    def __init__(self, url: str, *, token: str | None = None, timeout: float = 300.0) -> None:
        self.location = url.rstrip("/")
        token = token if token is not None else os.environ.get("PICIDAE_TOKEN")
        headers = {"User-Agent": "picidae-sdk"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._client = httpx.Client(base_url=self.location, headers=headers,
                                    timeout=httpx.Timeout(timeout, connect=10.0))

    def __repr__(self) -> str:
        return f"HttpArtifactStore({self.location!r})"

    def _check(self, response: httpx.Response) -> None:
        if response.status_code >= 400:
            try:
                body = response.json()
            except ValueError:
                body = {}
            if not isinstance(body, dict):
                body = {}
            body.setdefault("message", f"HTTP {response.status_code} from {self.location}")
            raise from_body(body, response.status_code)

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._client.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise StoreUnavailable(f"cannot reach the Picidae server at {self.location}: "
                                   f"{exc}") from exc
        return response

    def put(self, source: Source) -> Blob:
        """See ``ArtifactStore.put``: hash, then upload only content the server lacks."""
        if isinstance(source, bytes | bytearray | memoryview):
            data = bytes(source)
            return self._upload(hashlib.sha256(data).hexdigest(), len(data),
                                lambda: io.BytesIO(data))
        if isinstance(source, str | Path):
            path = Path(source)
            digest, size = sha256_file(path)
            return self._upload(digest, size, lambda: open(path, "rb"))
        # A stream: spool it to a temporary file while hashing, then upload that.
        with tempfile.TemporaryFile() as spool:
            h = hashlib.sha256()
            size = 0
            while chunk := source.read(CHUNK):
                h.update(chunk)
                size += len(chunk)
                spool.write(chunk)
            spool.seek(0)
            return self._upload(h.hexdigest(), size, lambda: _Unclosable(spool))

    def _upload(self, digest: str, size: int, opener: Any) -> Blob:
        if self.exists(digest):
            return Blob(digest, size, created=False)
        with opener() as stream:
            response = self._request("PUT", f"/api/v1/blobs/{digest}",
                                     content=_iterate(stream),
                                     headers={"Content-Type": "application/octet-stream"})
        self._check(response)
        return Blob(digest, size, created=response.status_code == 201)

    def exists(self, digest: str) -> bool:
        """See ``ArtifactStore.exists``."""
        response = self._request("HEAD", f"/api/v1/blobs/{check_digest(digest)}")
        if response.status_code == 404:
            return False
        self._check(response)
        return True

    def open(self, digest: str) -> BinaryIO:
        """See ``ArtifactStore.open`` (downloaded to a temporary file first)."""
        spool = tempfile.TemporaryFile()  # noqa: SIM115 (returned to the caller, who closes it)
        try:
            with self._client.stream("GET", f"/api/v1/blobs/{check_digest(digest)}") as resp:
                if resp.status_code == 404:
                    raise ArtifactNotFound(f"blob {digest} is not on {self.location}")
                if resp.status_code >= 400:
                    resp.read()
                    self._check(resp)
                for chunk in resp.iter_bytes(CHUNK):
                    spool.write(chunk)
        except httpx.TransportError as exc:
            spool.close()
            raise StoreUnavailable(f"cannot reach the Picidae server at {self.location}: "
                                   f"{exc}") from exc
        except BaseException:
            spool.close()
            raise
        spool.seek(0)
        return spool

    def get(self, digest: str, dest: Path) -> Path:
        """See ``ArtifactStore.get``."""
        with self.open(digest) as src:
            return copy_verified(src, Path(dest), digest, f"blob {digest[:12]}…")

    def delete(self, digest: str) -> bool:
        """Blobs on a server are removed by its garbage collection, not by clients."""
        return False

    def url(self, digest: str) -> str:
        """See ``ArtifactStore.url``."""
        return f"{self.location}/api/v1/blobs/{check_digest(digest)}"

    def close(self) -> None:
        """Close the connection pool."""
        self._client.close()


def _iterate(stream: IO[bytes]) -> Any:
    while chunk := stream.read(CHUNK):
        yield chunk


class _Unclosable:
    """A context manager over a stream that leaves it open (its owner closes it)."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.stream = stream

    def __enter__(self) -> IO[bytes]:
        return self.stream

    def __exit__(self, *exc: object) -> None:
        return None


__all__ = ["HttpArtifactStore"]
