"""Analysis over HTTP: compare, history, lineage, deleting runs for good, importing runs with
their ids. What the SDK and CLI do on an embedded or PostgreSQL store, the server does here
on its own (``picidae.analysis``), so ``store="http://..."`` gives the same answers.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import Field

from picidae.analysis import bundle, compare, history, retention
from picidae.core.fields import RUN_REFS
from picidae.server.deps import Access, reader, writer
from picidae.server.jsonresp import JSONResponse
from picidae.server.routes.artifacts import ArtifactIn, artifact_digests, require_blobs
from picidae.server.routes.runs import Strict
from picidae.server.schemas import ERRORS, RunOut

router = APIRouter(prefix="/api/v1", tags=["analysis"], responses=ERRORS)

MAX_IDS = 1000


class RunIdsIn(Strict):
    """Run ids, and whether only to say what would happen."""

    run_ids: list[str] = Field(..., min_length=1, max_length=MAX_IDS)
    dry_run: bool = False


class RunPayloadIn(Strict):
    """One run as a bundle holds it: the record with its id and transitions, packed metric
    chunks, log lines and artifact records (their content already in the artifact store)."""

    record: dict[str, Any]
    metrics: list[dict[str, Any]] = Field(default_factory=list)
    logs: list[list[Any]] = Field(default_factory=list)
    artifacts: list[ArtifactIn] = Field(default_factory=list)


@router.get("/compare")
def compare_runs(access: Annotated[Access, Depends(reader)],
                 ids: Annotated[str, Query(description="Run ids, comma-separated.")],
                 all: Annotated[bool, Query(description="Every row, not only those "
                                                        "that differ.")] = False,
                 ) -> JSONResponse:
    """What differs between the runs: config, summary, final and best metrics, inputs, code,
    environment and command (``picidae.compare``)."""
    run_ids = [part.strip() for part in ids.split(",") if part.strip()]
    return JSONResponse(compare.compare(access.store, run_ids, everything=all))


@router.get("/history")
def run_history(
    access: Annotated[Access, Depends(reader)],
    where: Annotated[str | None, Query(description="A filter expression.")] = None,
    by: Annotated[str | None, Query(description="name, day or agent.")] = None,
    created_after: float | None = None, created_before: float | None = None,
) -> JSONResponse:
    """Totals per status, failure rate, durations and cost (``picidae.history``)."""
    return JSONResponse(history.history(access.store, where=where, by=by,
                                        created_after=created_after,
                                        created_before=created_before))


@router.get("/runs/{run_id}/lineage")
def lineage(run_id: str, access: Annotated[Access, Depends(reader)],
            max_nodes: Annotated[int, Query(ge=1, le=5000)] = 500) -> JSONResponse:
    """The run's ancestors and descendants through parent, retry, replay and data links."""
    return JSONResponse(access.store.lineage(run_id, max_nodes=max_nodes))


@router.post("/runs/referrers")
def referrers(body: RunIdsIn, access: Annotated[Access, Depends(reader)]) -> JSONResponse:
    """Runs outside ``run_ids`` that point into them (retry, replay, data, parent)."""
    return JSONResponse({"edges": access.store.referrers(body.run_ids)})


@router.post("/runs/remove")
def remove(body: RunIdsIn, access: Annotated[Access, Depends(writer)]) -> JSONResponse:
    """Delete runs for good with their descendants, metrics, logs and the artifact blobs no
    other run references; refused (422) for a live run or one a kept run points at."""
    return JSONResponse(retention.remove(access.store, body.run_ids, dry_run=body.dry_run))


@router.post("/runs/purge")
def purge(body: RunIdsIn, access: Annotated[Access, Depends(writer)]) -> JSONResponse:
    """Delete exactly these runs; returns the artifact blobs no remaining run references
    (``Store.purge_runs``), for the caller to remove."""
    return JSONResponse(access.store.purge_runs(body.run_ids))


@router.post("/runs/import", status_code=201, response_model=RunOut)
def import_run(body: RunPayloadIn, access: Annotated[Access, Depends(writer)]) -> JSONResponse:
    """Store one run exactly as given — its id, transitions, metric points, logs and
    artifact records — as ``picidae import`` does; 422 when the id exists already, 403 when
    its lineage (``parent_id``, ``root_id``, ``retry_of``, ``replay_of``) names a run of
    another workspace, 422 when an artifact's blob is not there for this workspace."""
    record = body.record
    access.refuse_foreign({f"record.{name}": record.get(name)
                           for name in RUN_REFS})
    payload = body.model_dump(exclude_none=True)
    for i, art in enumerate(payload.get("artifacts", [])):
        require_blobs(access, artifact_digests(art), field=f"artifacts[{i}].digest")
    return JSONResponse(bundle.load_run(access.store, payload), status_code=201)
