"""Run actions over HTTP — cancel, retry, replay — and ``/api/v1/whoami``.

What ``picidae cancel|retry|replay`` do, for the web UI's buttons and any client: each acts
on a run of the token's workspace (the request's store is bound to it) and needs a write
token. Archive and restore are ``POST /runs/{id}/transitions {"to": "archived"}`` and
``POST /runs/{id}/restore``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import Field

from picidae.core.submit_args import parse_assignments
from picidae.core.times import record_to_json
from picidae.core.validation import deep_merge
from picidae.errors import InvalidInput
from picidae.executor.cancel import cancel_run
from picidae.executor.rerun import replay_run, retry_run
from picidae.server.deps import Access, reader, writer
from picidae.server.jsonresp import JSONResponse
from picidae.server.routes.runs import Strict
from picidae.server.schemas import ERRORS, RunOut

router = APIRouter(prefix="/api/v1", tags=["runs"], responses=ERRORS)


class ActorIn(Strict):
    """Who acts (default: the token's actor)."""

    actor: str | None = Field(None, max_length=128)


class CancelIn(ActorIn):
    """A cancel request."""

    reason: str | None = Field(None, max_length=10_000,
                               description="Recorded on the transition (default: "
                                           "'canceled by user').")


class ReplayIn(ActorIn):
    """A replay request: config overrides as a dict, as ``KEY=VALUE`` words (``picidae
    replay --set``: dots nest, values JSON when they parse), or both (the words win)."""

    overrides: dict[str, Any] | None = None
    set: list[str] | None = Field(None, max_length=1000,
                                  description="KEY=VALUE words, e.g. ['lr=0.01', "
                                              "'opt.name=adam'].")


@router.get("/whoami")
def whoami(access: Annotated[Access, Depends(reader)]) -> JSONResponse:
    """The request's workspace and role (``read`` or ``write``), and whether tokens are on:
    what the web UI asks before it offers run actions."""
    return JSONResponse({"workspace": access.workspace, "role": access.role,
                         "actor": access.actor, "tokens": access.tokens})


@router.post("/runs/{run_id}/cancel", response_model=RunOut)
def cancel(run_id: str, access: Annotated[Access, Depends(writer)],
           body: CancelIn | None = None) -> JSONResponse:
    """Cancel a run and its unfinished children (``picidae cancel``); a worker holding it
    stops its process. 409 when nothing is left to cancel. Returns the record."""
    actor = body.actor if body and body.actor else access.actor
    return JSONResponse(record_to_json(cancel_run(
        access.store, run_id, reason=body.reason if body else None, actor=actor)))


@router.post("/runs/{run_id}/retry", status_code=201, response_model=RunOut)
def retry(run_id: str, access: Annotated[Access, Depends(writer)],
          body: ActorIn | None = None) -> JSONResponse:
    """Queue an ended run again (``picidae retry``): a new run with ``retry_of`` and
    ``attempt`` + 1 → 201 with it. 422 for a run that has not ended or has no command."""
    actor = body.actor if body and body.actor else access.actor
    return JSONResponse(record_to_json(retry_run(access.store, run_id, actor=actor)),
                        status_code=201)


@router.post("/runs/{run_id}/replay", status_code=201, response_model=RunOut)
def replay(run_id: str, access: Annotated[Access, Depends(writer)],
           body: ReplayIn | None = None) -> JSONResponse:
    """Queue a run's command, code, inputs and config again with overrides (``picidae
    replay``): a new run with ``replay_of`` → 201 with it."""
    body = body or ReplayIn(overrides=None, set=None, actor=None)
    try:
        words = parse_assignments(body.set, "set")
    except InvalidInput as exc:
        raise InvalidInput(str(exc), field="set") from None
    overrides = deep_merge(body.overrides or {}, words)
    return JSONResponse(record_to_json(replay_run(access.store, run_id, overrides,
                                                  actor=body.actor or access.actor)),
                        status_code=201)
