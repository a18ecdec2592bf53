"""Artifacts in S3 or any S3-compatible object store (MinIO, Ceph, R2, moto...).

``PICIDAE_ARTIFACTS=s3://bucket/prefix``; blobs go to ``prefix/blobs/sha256/ab/cdef...``.
The endpoint comes from ``AWS_ENDPOINT_URL_S3`` or ``AWS_ENDPOINT_URL`` (unset: AWS itself),
credentials and region from the usual AWS variables, files and profiles (boto3's chain).
Custom endpoints use path-style addressing (``AWS_S3_ADDRESSING_STYLE`` overrides it).

A file is hashed first; a blob already stored under that digest is not uploaded again.
Uploads go through boto3's transfer manager, which streams large files as multipart uploads
(parts of ``multipart_chunksize`` bytes, several in parallel); nothing is read whole into
memory. boto3 is the optional extra ``s3``: ``pip install 'picidae[s3]'``.
"""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, BinaryIO

from picidae.artifacts.base import CHUNK, Blob, Source, blob_key, copy_verified, sha256_file
from picidae.errors import ArtifactNotFound, InvalidInput, MissingDependency, StoreUnavailable

MULTIPART_THRESHOLD = 16 * 1024 * 1024
MULTIPART_CHUNKSIZE = 16 * 1024 * 1024

_MISSING = ("404", "NoSuchKey", "NotFound")


def parse_s3_url(url: str) -> tuple[str, str]:
    """``(bucket, prefix)`` of ``s3://bucket/prefix`` (the prefix without slashes around)."""
    if not url.lower().startswith("s3://"):
        raise InvalidInput(f"not an S3 URL: {url!r} (use s3://bucket/prefix)",
                           field="artifacts")
    bucket, _, prefix = url[5:].partition("/")
    if not bucket:
        raise InvalidInput(f"the S3 URL {url!r} names no bucket (use s3://bucket/prefix)",
                           field="artifacts")
    return bucket, prefix.strip("/")


def endpoint_url() -> str | None:
    """The S3 endpoint from the environment, if one is set."""
    return os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or None


class S3ArtifactStore:
    """Content-addressed blobs in an S3 bucket (see the module docstring)."""

    def __init__(self, url: str, *, client: Any = None,
                 multipart_threshold: int = MULTIPART_THRESHOLD,
                 multipart_chunksize: int = MULTIPART_CHUNKSIZE) -> None:
        self.bucket, self.prefix = parse_s3_url(url)
        self.location = f"s3://{self.bucket}/{self.prefix}" if self.prefix \
            else f"s3://{self.bucket}"
        try:
            import boto3
            from boto3.s3.transfer import TransferConfig
            from botocore.config import Config
        except ImportError as exc:
            raise MissingDependency("boto3", "s3") from exc
        self.endpoint = endpoint_url()
        if client is None:
            style = os.environ.get("AWS_S3_ADDRESSING_STYLE") or (
                "path" if self.endpoint else "auto")
            s3_options: Any = {"addressing_style": style}
            config = Config(s3=s3_options, connect_timeout=10, read_timeout=120,
                            retries={"max_attempts": 5, "mode": "standard"})
            region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") \
                or "us-east-1"
            client = boto3.session.Session().client("s3", endpoint_url=self.endpoint,
                                                    region_name=region, config=config)
        self.client = client
        self.transfer = TransferConfig(multipart_threshold=multipart_threshold,
                                       multipart_chunksize=multipart_chunksize,
                                       max_concurrency=4)

    def __repr__(self) -> str:
        return f"S3ArtifactStore({self.location!r})"

    def _key(self, digest: str) -> str:
        key = blob_key(digest)
        return f"{self.prefix}/{key}" if self.prefix else key

    @contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        """Translate botocore's errors into Picidae's at this boundary."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            yield
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in _MISSING:
                raise ArtifactNotFound(f"{what}: not found in {self.location}") from exc
            if code == "NoSuchBucket":
                raise StoreUnavailable(f"{what}: the S3 bucket {self.bucket!r} does not exist"
                                       f"{self._at()}") from exc
            raise StoreUnavailable(f"{what}: S3 refused it ({code}){self._at()}: "
                                   f"{exc.response.get('Error', {}).get('Message', exc)}"
                                   ) from exc
        except BotoCoreError as exc:
            raise StoreUnavailable(f"{what}: S3 is unavailable{self._at()}: {exc} (check "
                                   "AWS_ENDPOINT_URL and the AWS credentials)") from exc

    def _at(self) -> str:
        return f" at {self.endpoint}" if self.endpoint else ""

    def put(self, source: Source) -> Blob:
        """See ``ArtifactStore.put``."""
        if isinstance(source, str | Path):
            path = Path(source)
            before = path.stat()
            digest, size = sha256_file(path)
            if self.exists(digest):
                return Blob(digest, size, created=False)
            with open(path, "rb") as f:
                self._upload(f, digest)
            after = path.stat()
            if (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns):
                self.delete(digest)
                raise OSError(f"{path} changed while it was being uploaded; log it again once "
                              "it is complete")
            return Blob(digest, size, created=True)
        if isinstance(source, bytes | bytearray | memoryview):
            import hashlib

            data = bytes(source)
            digest = hashlib.sha256(data).hexdigest()
            if self.exists(digest):
                return Blob(digest, len(data), created=False)
            self._upload(io.BytesIO(data), digest)
            return Blob(digest, len(data), created=True)
        return self._put_stream(source)

    def _put_stream(self, stream: IO[bytes]) -> Blob:
        import hashlib

        h = hashlib.sha256()
        size = 0
        with tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024) as spool:
            while chunk := stream.read(CHUNK):
                h.update(chunk)
                size += len(chunk)
                spool.write(chunk)
            digest = h.hexdigest()
            if self.exists(digest):
                return Blob(digest, size, created=False)
            spool.seek(0)
            self._upload(spool, digest)
        return Blob(digest, size, created=True)

    def _upload(self, fileobj: IO[bytes], digest: str) -> None:
        with self._errors(f"uploading blob {digest[:12]}…"):
            self.client.upload_fileobj(fileobj, self.bucket, self._key(digest),
                                       ExtraArgs={"Metadata": {"sha256": digest}},
                                       Config=self.transfer)

    def exists(self, digest: str) -> bool:
        """See ``ArtifactStore.exists``."""
        try:
            with self._errors(f"blob {digest[:12]}…"):
                self.client.head_object(Bucket=self.bucket, Key=self._key(digest))
        except ArtifactNotFound:
            return False
        return True

    def open(self, digest: str) -> BinaryIO:
        """See ``ArtifactStore.open``."""
        with self._errors(f"blob {digest}"):
            body = self.client.get_object(Bucket=self.bucket, Key=self._key(digest))["Body"]
        return body  # type: ignore[no-any-return]

    def get(self, digest: str, dest: Path) -> Path:
        """See ``ArtifactStore.get``."""
        body = self.open(digest)
        try:
            with self._errors(f"downloading blob {digest[:12]}…"):
                return copy_verified(body, Path(dest), digest, f"blob {digest[:12]}…")
        finally:
            body.close()

    def delete(self, digest: str) -> bool:
        """See ``ArtifactStore.delete``."""
        if not self.exists(digest):
            return False
        with self._errors(f"deleting blob {digest[:12]}…"):
            self.client.delete_object(Bucket=self.bucket, Key=self._key(digest))
        return True

    def url(self, digest: str) -> str:
        """See ``ArtifactStore.url``."""
        return f"s3://{self.bucket}/{self._key(digest)}"
