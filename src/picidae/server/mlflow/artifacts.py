"""MLflow's artifact proxy (``/api/2.0/mlflow-artifacts/artifacts``): upload, download and
list a run's (or a logged model's) files, and ``/api/3.0/mlflow/server-info``.

A run's artifact URI is ``mlflow-artifacts:/EXPERIMENT_ID/RUN_ID/artifacts``; a logged
model's ``mlflow-artifacts:/EXPERIMENT_ID/models/MODEL_ID/artifacts``. Each uploaded file is a
Picidae artifact of that run (the model's run) named by its path under ``artifacts/``; the
content goes to the server's artifact store like any other blob.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from picidae.artifacts.paths import clean_artifact_name
from picidae.artifacts.registry import for_store
from picidae.core.lifecycle import RunFacts, artifact_refusal
from picidae.core.states import State
from picidae.server import deps
from picidae.server.deps import Access
from picidae.server.mlflow.errors import Args, endpoint, error_response, invalid, not_found
from picidae.server.routes.artifacts import DEFAULT_MAX_BLOB_MB, DOWNLOAD_HEADERS

router = APIRouter()
PREFIX = "/api/2.0/mlflow-artifacts/artifacts"


def locate(path: str) -> tuple[str, str]:
    """``(run id, file path)`` of a proxy path ``EXP/RUN_ID/artifacts/PATH`` or
    ``EXP/models/MODEL_ID/artifacts/PATH`` (the file path may be empty: the root)."""
    parts = [p for p in path.strip("/").split("/") if p]
    if len(parts) >= 4 and parts[1] == "models" and parts[3] == "artifacts":
        from picidae.server.mlflow.models import run_of

        return run_of(parts[2]), "/".join(parts[4:])
    if len(parts) >= 3 and parts[2] == "artifacts":
        return parts[1], "/".join(parts[3:])
    if len(parts) == 2 and parts[1] != "models":
        return parts[1], ""
    raise not_found(f"No artifacts at '{path}': paths are EXPERIMENT/RUN_ID/artifacts/...")


def files(access: Access, run_id: str) -> dict[str, dict[str, Any]]:
    """The run's files by path (a later upload of a path wins; folders' members too)."""
    out: dict[str, dict[str, Any]] = {}
    for art in access.store.list_artifacts(run_id):
        if art.get("kind") == "folder":
            for member in art.get("files") or []:
                out[f"{art['name']}/{member['path']}"] = member
        else:
            out[art["name"]] = art
    return out


def listing(access: Access, run_id: str, under: str) -> list[dict[str, Any]]:
    """MLflow's ``FileInfo`` entries directly under ``under`` (paths relative to the run's
    artifact root), folders first as MLflow lists them."""
    under = under.strip("/")
    base = f"{under}/" if under else ""
    dirs: set[str] = set()
    out: dict[str, dict[str, Any]] = {}
    for name, entry in files(access, run_id).items():
        if not name.startswith(base) or name == under:
            continue
        rest = name[len(base):]
        head, sep, _ = rest.partition("/")
        if sep:
            dirs.add(base + head)
        else:
            out[name] = {"path": name, "is_dir": False, "file_size": int(entry["size"])}
    return [{"path": d, "is_dir": True} for d in sorted(dirs)] + \
        [out[k] for k in sorted(out)]


@router.put(PREFIX + "/{path:path}")
async def upload(path: str, request: Request) -> Response:
    """Store one file (the body) at ``path``."""
    tmp: Path | None = None
    try:
        access = await deps.writer(request)
        run_id, name = locate(path)
        name = clean_artifact_name(name) if name else ""
        if not name:
            raise invalid("Upload a file: the path ends with its name")
        rec = await run_in_threadpool(access.store.get_run, run_id)
        refused = artifact_refusal(RunFacts(run_id, State(rec["status"])))
        if refused is not None:  # before the body is read and stored
            raise refused
        limit = int(float(os.environ.get("PICIDAE_MAX_BLOB_MB") or DEFAULT_MAX_BLOB_MB)
                    * 2**20)
        fd, text = tempfile.mkstemp(prefix="picidae-mlflow-", suffix=".part")
        tmp = Path(text)
        size = 0
        with os.fdopen(fd, "wb") as out:
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise invalid(f"The file is over {limit} bytes (PICIDAE_MAX_BLOB_MB)")
                await run_in_threadpool(out.write, chunk)
        blob = await run_in_threadpool(for_store(access.store).put, tmp)
        record = {"name": name, "kind": "file", "digest": blob.digest, "size": blob.size,
                  "created_at": time.time(), "metadata": {"mlflow": True},
                  "location": str(request.base_url).rstrip("/")}
        await run_in_threadpool(access.store.add_artifact, run_id, record)
    except Exception as exc:
        return error_response(exc)
    finally:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
    return Response(b"{}", media_type="application/json")


@router.get(PREFIX + "/{path:path}")
async def download(path: str, request: Request) -> Response:
    """One file's content."""
    try:
        access = await deps.reader(request)
        run_id, name = locate(path)
        found = (await run_in_threadpool(files, access, run_id)).get(name.strip("/"))
        if found is None:
            raise not_found(f"No artifact '{name}' in run {run_id}")
        stream = await run_in_threadpool(for_store(access.store).open, found["digest"])
    except Exception as exc:
        return error_response(exc)

    def chunks() -> Any:
        try:
            while chunk := stream.read(1 << 20):
                yield chunk
        finally:
            stream.close()

    return StreamingResponse(chunks(), media_type="application/octet-stream",
                             headers=DOWNLOAD_HEADERS)


@endpoint(router, PREFIX, ["GET"], write=False)
def list_proxy(access: Access, args: Args) -> dict[str, Any]:
    """The entries directly under ``path`` (basenames, as MLflow's proxy answers)."""
    path = args.text("path", required=False) or ""
    try:
        run_id, under = locate(path)
    except Exception:
        return {}
    entries = listing(access, run_id, under)
    for entry in entries:
        entry["path"] = entry["path"].rsplit("/", 1)[-1]
    return {"files": entries} if entries else {}


def _list_run(access: Access, args: Args) -> dict[str, Any]:
    run_id = args.run_id()
    record = access.store.get_run(run_id)
    from picidae.server.mlflow.convert import run_info

    entries = listing(access, run_id, args.text("path", required=False) or "")
    return {"root_uri": run_info(record)["artifact_uri"], "files": entries}


for _prefix in ("/api/2.0/mlflow", "/ajax-api/2.0/mlflow"):
    endpoint(router, _prefix + "/artifacts/list", ["GET"], write=False)(_list_run)


@endpoint(router, "/api/3.0/mlflow/server-info", ["GET"], write=False)
def server_info(access: Access, args: Args) -> dict[str, Any]:
    """What the MLflow client asks before uploading: no multipart or presigned uploads (files
    go through the proxy)."""
    return {"store_type": "SqlStore", "workspaces_enabled": False,
            "trace_archival_enabled": False, "multipart_uploads_enabled": False,
            "multipart_downloads_enabled": False, "presigned_upload_run_id_supported": False,
            "presigned_upload_model_id_supported": False, "features_enabled": {}}
