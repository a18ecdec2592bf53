"""Artifacts through the server: content-addressed blobs, and each run's artifact records.

Uploads go through the API (no presigned URLs), so clients need no storage credentials:
``HEAD /api/v1/blobs/{sha256}`` says whether the server has the content, ``PUT`` streams it
in (the server hashes it on the way and refuses it unless the digest matches), ``GET`` streams
it out. A run's artifact records point at blobs by digest.
"""

from __future__ import annotations

import hashlib
import mimetypes
import os
import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from picidae.artifacts.base import CHUNK, check_digest
from picidae.artifacts.registry import for_store
from picidae.errors import ArtifactNotFound, InvalidInput
from picidae.server.deps import Access, reader, writer
from picidae.server.jsonresp import JSONResponse

router = APIRouter(prefix="/api/v1", tags=["artifacts"])

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


@router.head("/blobs/{digest}")
def blob_exists(digest: str, access: Annotated[Access, Depends(reader)]) -> Response:
    """200 when the server has this content, 404 when not."""
    return Response(status_code=200 if _blobs(access).exists(_digest(digest)) else 404)


@router.get("/blobs/{digest}")
def get_blob(digest: str, access: Annotated[Access, Depends(reader)]) -> StreamingResponse:
    """The content, streamed."""
    stream = _blobs(access).open(_digest(digest))
    return StreamingResponse(_chunks(stream), media_type="application/octet-stream")


def _chunks(stream: Any) -> Any:
    try:
        while chunk := stream.read(CHUNK):
            yield chunk
    finally:
        stream.close()


@router.put("/blobs/{digest}", status_code=201)
async def put_blob(digest: str, request: Request,
                   access: Annotated[Access, Depends(writer)]) -> JSONResponse:
    """Store content under its digest; 422 (nothing stored) when the bytes do not hash to it."""
    digest = _digest(digest)
    blobs = _blobs(access)
    if await run_in_threadpool(blobs.exists, digest):
        return JSONResponse({"digest": digest, "created": False}, status_code=200)
    limit = int(float(os.environ.get("PICIDAE_MAX_BLOB_MB") or DEFAULT_MAX_BLOB_MB) * 2**20)
    fd, name = tempfile.mkstemp(prefix="picidae-upload-", suffix=".part")
    path = Path(name)
    try:
        h = hashlib.sha256()
        size = 0
        with os.fdopen(fd, "wb") as out:
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise InvalidInput(f"the blob is over {limit} bytes (PICIDAE_MAX_BLOB_MB)",
                                       field="body")
                h.update(chunk)
                await run_in_threadpool(out.write, chunk)
        if h.hexdigest() != digest:
            raise InvalidInput(f"the uploaded bytes hash to {h.hexdigest()}, not {digest}; "
                               "nothing was stored", field="digest")
        blob = await run_in_threadpool(blobs.put, path)
    finally:
        path.unlink(missing_ok=True)
    return JSONResponse({"digest": blob.digest, "size": blob.size, "created": blob.created},
                        status_code=201)


@router.get("/runs/{run_id}/artifacts")
def list_artifacts(run_id: str, access: Annotated[Access, Depends(reader)]) -> JSONResponse:
    """The run's artifacts in the order they were logged (folders with their files)."""
    return JSONResponse({"id": run_id, "artifacts": access.store.list_artifacts(run_id)})


@router.post("/runs/{run_id}/artifacts", status_code=201)
async def add_artifact(run_id: str, request: Request,
                       access: Annotated[Access, Depends(writer)]) -> JSONResponse:
    """Record an artifact whose blob (and, for a folder, whose files' blobs) the server has."""
    try:
        record = await request.json()
    except ValueError:
        raise InvalidInput("the body is not JSON", field="body") from None
    if not isinstance(record, dict):
        raise InvalidInput("the body must be a JSON object", field="body")
    blobs = _blobs(access)
    needed = [f.get("digest") for f in record.get("files") or [] if isinstance(f, dict)]
    if record.get("kind") != "folder":
        needed.append(record.get("digest"))
    for digest in needed:
        if not isinstance(digest, str) or not await run_in_threadpool(blobs.exists,
                                                                      _digest(digest)):
            raise InvalidInput(f"the server has no blob {digest!r}: PUT /api/v1/blobs/DIGEST "
                               "first", field="digest")
    record["location"] = str(request.base_url).rstrip("/")
    stored = await run_in_threadpool(access.store.add_artifact, run_id, record)
    return JSONResponse(stored, status_code=201)


@router.get("/runs/{run_id}/artifacts/{artifact_id}")
def download_artifact(run_id: str, artifact_id: int,
                      access: Annotated[Access, Depends(reader)]) -> StreamingResponse:
    """One artifact's content (a file or an image), streamed with its name."""
    found = next((a for a in access.store.list_artifacts(run_id) if a["id"] == artifact_id),
                 None)
    if found is None:
        raise ArtifactNotFound(f"run {run_id} has no artifact {artifact_id}")
    if found["kind"] == "folder":
        raise InvalidInput(f"artifact {found['name']!r} is a folder: download its files with "
                           "'picidae artifacts get'", field="artifact_id")
    filename = found["name"].rsplit("/", 1)[-1]
    media = mimetypes.guess_type(filename)[0] or "application/octet-stream"
    stream = _blobs(access).open(found["digest"])
    return StreamingResponse(_chunks(stream), media_type=media, headers={
        "Content-Disposition": f"inline; filename=\"{filename.replace(chr(34), '')}\""})
