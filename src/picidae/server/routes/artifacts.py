"""Artifacts through the server: content-addressed blobs, and each run's artifact records.

Uploads go through the API (no presigned URLs), so clients need no storage credentials:
``HEAD /api/v1/blobs/{sha256}`` says whether the server has the content, ``PUT`` streams it
in (the server hashes it on the way and refuses it unless the digest matches), ``GET`` streams
it out. A run's artifact records point at blobs by digest.

Blobs are shared between workspaces (the same bytes are stored once), so a workspace sees a
blob only when it has a claim on it: one of its runs' artifacts references the digest, or it
uploaded the bytes itself (a ``PUT`` whose bytes hashed to the digest — then the server keeps
a small proof blob, ``PROOF``, in the artifact store, so every replica knows). Without tokens
there is one workspace, and every blob is its own. Otherwise
``HEAD`` and ``GET`` answer 404 and an artifact record naming the digest is refused, so
knowing another workspace's digest neither reads its content nor tells whether it exists;
a ``PUT`` of content another workspace has already stored reads and checks the whole body
before it gives the claim.

Downloads are attachments with ``X-Content-Type-Options: nosniff`` and a sandboxing CSP: an
artifact named ``x.html`` is never rendered on the API's origin. Images whose bytes are a
PNG, JPEG, GIF or WebP may be shown inline (the UI's ``img`` tags) under their image type.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import AfterValidator, Field
from starlette.concurrency import run_in_threadpool

from picidae.artifacts.base import CHUNK, check_digest
from picidae.artifacts.paths import MAX_NAME, MAX_PATH, clean_artifact_name, clean_member_path
from picidae.artifacts.registry import for_store
from picidae.errors import ArtifactNotFound, InvalidInput
from picidae.server.deps import Access, reader, writer
from picidae.server.jsonresp import JSONResponse
from picidae.server.routes.runs import Strict
from picidae.server.schemas import ERRORS, ArtifactOut, ArtifactsOut, BlobOut
from picidae.store.capabilities import WorkspacedStore

router = APIRouter(prefix="/api/v1", tags=["artifacts"], responses=ERRORS)

MAX_INT = (1 << 63) - 1

#: Blob uploads are exempt from the JSON body limit; this one applies instead.
DEFAULT_MAX_BLOB_MB = 20_480.0


def _digest(value: str) -> str:
    try:
        return check_digest(value)
    except ValueError:
        raise InvalidInput(f"{value!r} is not a SHA-256 hex digest (64 lower-case hex "
                           "characters)", field="digest") from None


def _blobs(access: Access) -> Any:
    return for_store(access.store)


#: The first bytes of a proof blob (see the module docstring); uploads may not start so.
PROOF = b"picidae-proof:v1:"


def _proof(access: Access) -> Any:
    return lambda digest: PROOF + f"{access.workspace}:{digest}".encode()


def claimed(access: Access, digest: str) -> bool:
    """Whether the server has the blob and the request's workspace may see it (see the
    module docstring)."""
    blobs = _blobs(access)
    if not blobs.exists(digest):
        return False
    if not access.tokens:
        return True
    store = access.store
    if not isinstance(store, WorkspacedStore) or store.references_blob(digest):
        return True
    return bool(blobs.exists(hashlib.sha256(_proof(access)(digest)).hexdigest()))


def require_blobs(access: Access, digests: list[Any], field: str = "digest") -> None:
    """``InvalidInput`` unless the workspace has a claim on every blob of ``digests``."""
    for digest in digests:
        if not isinstance(digest, str) or not claimed(access, _digest(digest)):
            raise InvalidInput(f"the server has no blob {digest!r}: PUT /api/v1/blobs/DIGEST "
                               "first", field=field)


#: What a download may claim to be: ``Content-Disposition: attachment`` always, and never a
#: type a browser would run; ``sandbox`` keeps anything opened directly script-free.
DOWNLOAD_HEADERS = {"X-Content-Type-Options": "nosniff",
                    "Content-Security-Policy": "default-src 'none'; sandbox",
                    "Cache-Control": "private, no-cache"}
_MAGIC = {b"\x89PNG\r\n\x1a\n": "image/png", b"\xff\xd8\xff": "image/jpeg",
          b"GIF87a": "image/gif", b"GIF89a": "image/gif"}


def _image_type(head: bytes) -> str | None:
    """The image type of these first bytes, when they are a PNG, JPEG, GIF or WebP."""
    for magic, media in _MAGIC.items():
        if head.startswith(magic):
            return media
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


@router.head("/blobs/{digest}")
def blob_exists(digest: str, access: Annotated[Access, Depends(reader)]) -> Response:
    """200 when the server has this content for this workspace, 404 when not."""
    return Response(status_code=200 if claimed(access, _digest(digest)) else 404)


@router.get("/blobs/{digest}", response_class=StreamingResponse, responses={
    200: {"content": {"application/octet-stream": {}}, "description": "The content."}})
def get_blob(digest: str, access: Annotated[Access, Depends(reader)]) -> StreamingResponse:
    """The content, streamed as a download."""
    if not claimed(access, _digest(digest)):
        raise ArtifactNotFound(f"no blob {digest}")
    stream = _blobs(access).open(digest)
    return StreamingResponse(_chunks(stream), media_type="application/octet-stream",
                             headers={**DOWNLOAD_HEADERS, "Content-Disposition":
                                      f'attachment; filename="{digest}"'})


def _chunks(stream: Any, first: bytes = b"") -> Any:
    try:
        if first:
            yield first
        while chunk := stream.read(CHUNK):
            yield chunk
    finally:
        stream.close()


@router.put("/blobs/{digest}", status_code=201, response_model=BlobOut)
async def put_blob(digest: str, request: Request,
                   access: Annotated[Access, Depends(writer)]) -> JSONResponse:
    """Store content under its digest; 422 (nothing stored) when the bytes do not hash to it."""
    digest = _digest(digest)
    blobs = _blobs(access)
    if await run_in_threadpool(claimed, access, digest):
        return JSONResponse({"digest": digest, "created": False}, status_code=200)
    limit = int(float(os.environ.get("PICIDAE_MAX_BLOB_MB") or DEFAULT_MAX_BLOB_MB) * 2**20)
    fd, name = tempfile.mkstemp(prefix="picidae-upload-", suffix=".part")
    path = Path(name)
    try:
        h = hashlib.sha256()
        size = 0
        head = b""
        with os.fdopen(fd, "wb") as out:
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise InvalidInput(f"the blob is over {limit} bytes (PICIDAE_MAX_BLOB_MB)",
                                       field="body")
                if len(head) < len(PROOF):
                    head += chunk[:len(PROOF)]
                h.update(chunk)
                await run_in_threadpool(out.write, chunk)
        if h.hexdigest() != digest:
            raise InvalidInput(f"the uploaded bytes hash to {h.hexdigest()}, not {digest}; "
                               "nothing was stored", field="digest")
        if head.startswith(PROOF):
            raise InvalidInput("content starting with the server's proof marker cannot be "
                               "uploaded", field="body")
        blob = await run_in_threadpool(blobs.put, path)
        if access.tokens:
            await run_in_threadpool(blobs.put, _proof(access)(digest))
    finally:
        path.unlink(missing_ok=True)
    return JSONResponse({"digest": blob.digest, "size": blob.size, "created": blob.created},
                        status_code=201)


@router.get("/runs/{run_id}/artifacts", response_model=ArtifactsOut)
def list_artifacts(run_id: str, access: Annotated[Access, Depends(reader)]) -> JSONResponse:
    """The run's artifacts in the order they were logged (folders with their files)."""
    return JSONResponse({"id": run_id, "artifacts": access.store.list_artifacts(run_id)})


def _member(value: str) -> str:
    try:
        return clean_member_path(value)
    except InvalidInput as exc:
        raise ValueError(exc.message) from None


def _name(value: str) -> str:
    try:
        return clean_artifact_name(value)
    except InvalidInput as exc:
        raise ValueError(exc.message) from None


class ArtifactFileIn(Strict):
    """One file of a folder artifact."""

    path: Annotated[str, AfterValidator(_member)] = Field(..., max_length=MAX_PATH)
    digest: str = Field(..., pattern="^[0-9a-f]{64}$")
    size: int = Field(..., ge=0, le=MAX_INT)


class ArtifactLinkIn(Strict):
    """A symbolic link inside a folder artifact: where it is and what it points at."""

    path: Annotated[str, AfterValidator(_member)] = Field(..., max_length=MAX_PATH)
    target: str = Field(..., min_length=1, max_length=MAX_PATH)


class ArtifactIn(Strict):
    """An artifact record whose content (for a folder: each file's) is already uploaded."""

    id: int | None = Field(None, description="Ignored (records read back carry one).")
    name: Annotated[str, AfterValidator(_name)] = Field(..., max_length=MAX_NAME)
    type: str | None = Field(None, max_length=64)
    kind: Literal["file", "folder", "image"] = "file"
    digest: str = Field(..., pattern="^[0-9a-f]{64}$")
    size: int = Field(..., ge=0, le=MAX_INT)
    step: int | None = Field(None, ge=0, le=MAX_INT)
    created_at: float | None = Field(None, description="When it was logged (default: now).")
    caption: str | None = Field(None, max_length=10_000)
    metadata: dict[str, Any] | None = None
    location: str | None = Field(None, max_length=2048, description="Set by the server.")
    files: list[ArtifactFileIn] | None = Field(None, max_length=1_000_000)
    links: list[ArtifactLinkIn] | None = Field(None, max_length=1_000_000)


def artifact_digests(record: dict[str, Any]) -> list[Any]:
    """The blobs an artifact record points at: its files' for a folder, else its own."""
    files = record.get("files")
    found = [f.get("digest") if isinstance(f, dict) else None
             for f in (files if isinstance(files, list) else [])]
    if record.get("kind") != "folder":
        found.append(record.get("digest"))
    return found


@router.post("/runs/{run_id}/artifacts", status_code=201, response_model=ArtifactOut)
async def add_artifact(run_id: str, body: ArtifactIn, request: Request,
                       access: Annotated[Access, Depends(writer)]) -> JSONResponse:
    """Record an artifact whose blob (and, for a folder, whose files' blobs) the server has."""
    record = body.model_dump(exclude={"id"}, exclude_none=True)
    record.setdefault("created_at", time.time())
    await run_in_threadpool(require_blobs, access, artifact_digests(record))
    record["location"] = str(request.base_url).rstrip("/")
    stored = await run_in_threadpool(access.store.add_artifact, run_id, record)
    return JSONResponse(stored, status_code=201)


@router.get("/runs/{run_id}/artifacts/{artifact_id}", response_class=StreamingResponse,
            responses={200: {"content": {"application/octet-stream": {}},
                             "description": "The content, as a download."}})
def download_artifact(run_id: str, artifact_id: int,
                      access: Annotated[Access, Depends(reader)]) -> StreamingResponse:
    """One artifact's content (a file or an image), streamed as a download with its name.
    Served as an attachment with ``nosniff``; an image whose bytes are PNG, JPEG, GIF or
    WebP keeps that type (and may be shown inline by an ``img`` tag), anything else is
    ``application/octet-stream`` whatever its name."""
    found = next((a for a in access.store.list_artifacts(run_id) if a["id"] == artifact_id),
                 None)
    if found is None:
        raise ArtifactNotFound(f"run {run_id} has no artifact {artifact_id}")
    if found["kind"] == "folder":
        raise InvalidInput(f"artifact {found['name']!r} is a folder: download its files with "
                           "'picidae artifacts get'", field="artifact_id")
    filename = found["name"].rsplit("/", 1)[-1]
    stream = _blobs(access).open(found["digest"])
    head = stream.read(16)
    media = _image_type(head) or "application/octet-stream"
    disposition = "inline" if media != "application/octet-stream" else "attachment"
    quoted = "".join(c for c in filename if c.isprintable() and c not in '"\\;')
    return StreamingResponse(_chunks(stream, head), media_type=media, headers={
        **DOWNLOAD_HEADERS,
        "Content-Disposition": f'{disposition}; filename="{_ascii(quoted)}"; '
                               f"filename*=UTF-8''{quote(filename, safe='')}"})


def _ascii(name: str) -> str:
    return name.encode("ascii", "replace").decode().replace("?", "_") or "artifact"
