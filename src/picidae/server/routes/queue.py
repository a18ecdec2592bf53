"""``/api/v1/queue``: workers claim queued runs over HTTP (``picidae worker --store http://``).

The claim is the store's (``Store.claim``): atomic on every backend, so any number of workers
talking to any number of server replicas never start one run twice.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import Field

from picidae.core.times import record_to_json
from picidae.server.deps import Access, writer
from picidae.server.jsonresp import JSONResponse
from picidae.server.routes.runs import Strict
from picidae.server.schemas import ERRORS, ClaimOut

router = APIRouter(prefix="/api/v1/queue", tags=["queue"], responses=ERRORS)


class ClaimIn(Strict):
    """A worker asking for work."""

    worker: str = Field(..., min_length=1, max_length=128,
                        description="The worker's name (recorded as the actor).")
    queue: str = Field("default", min_length=1, max_length=64)
    limit: int = Field(1, ge=1, le=100, description="At most this many runs.")
    fits: dict[str, float] | None = Field(
        None, description="What the worker has free (cpus, gpus, memory_mb): only runs "
                          "whose resources.request fits are claimed.")


@router.post("/claim", response_model=ClaimOut)
def claim(body: ClaimIn, access: Annotated[Access, Depends(writer)]) -> JSONResponse:
    """Claim up to ``limit`` of the oldest queued runs of ``queue``; each is moved to
    ``provisioning`` for this worker. ``{"runs": [...]}`` (empty when there is no work)."""
    runs = access.store.claim(body.worker, queue=body.queue, limit=body.limit,
                                fits=body.fits)
    return JSONResponse({"runs": [record_to_json(rec) for rec in runs]})
