"""``/api/v1/schedules``: the schedules of the token's workspace (what ``picidae schedule``
manages over ``--store http://``); the server fires them. A read token lists; adding,
removing, pausing and resuming need a write token. Another workspace's names are unknown
here (404)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import Field

from picidae.core import cron as crons
from picidae.errors import InvalidInput
from picidae.executor.schedules import book, split_spec
from picidae.server.deps import Access, reader, writer
from picidae.server.jsonresp import JSONResponse
from picidae.server.routes.runs import Strict
from picidae.server.schemas import ERRORS

router = APIRouter(prefix="/api/v1/schedules", tags=["schedules"], responses=ERRORS)


class ScheduleIn(Strict):
    """A new schedule: a submission spec (``command``, ``config``, ``seeds``…) or a flow
    submitted at each slot of ``cron`` in ``tz``."""

    name: str = Field(..., min_length=1, max_length=256)
    cron: str = Field(..., min_length=1, max_length=256,
                      description="Five fields (minute hour day month weekday), or six "
                                  "with seconds last.")
    tz: str = Field("UTC", min_length=1, max_length=64, description="e.g. Europe/Berlin.")
    spec: dict[str, Any] | None = Field(None, description="What to submit (or flow).")
    flow: str | None = Field(None, min_length=1, max_length=256,
                             description="Submit this flow's latest version instead.")


@router.get("")
def list_schedules(access: Annotated[Access, Depends(reader)]) -> JSONResponse:
    """Every schedule of the workspace, by name, with its last run."""
    return JSONResponse({"schedules": book(access.store).list()})


@router.post("", status_code=201)
def add_schedule(body: ScheduleIn, access: Annotated[Access, Depends(writer)]) -> JSONResponse:
    """Store a new schedule (checked first: the cron expression, the zone, the spec or that
    the flow exists) → 201; 422 naming the field, e.g. a name that is taken."""
    text = crons.check(body.cron, body.tz)
    if (body.spec is None) == (body.flow is None):
        raise InvalidInput("a schedule submits a spec or a flow, one of them", field="spec")
    spec = None
    if body.spec is not None:
        built, engine = split_spec(body.spec)
        spec = {**built.to_dict(), **({"engine": engine} if engine else {})}
    if body.flow is not None:
        access.store.get_flow(body.flow)  # FlowNotFound now, not at the first slot
    found = book(access.store).add(body.name, text, body.tz, spec=spec, flow=body.flow)
    return JSONResponse(found, status_code=201)


@router.get("/{name}")
def get_schedule(name: str, access: Annotated[Access, Depends(reader)]) -> JSONResponse:
    """One schedule; 404 when the workspace has none of this name."""
    return JSONResponse(book(access.store).get(name))


@router.get("/{name}/fires")
def schedule_fires(name: str, access: Annotated[Access, Depends(reader)]) -> JSONResponse:
    """Every slot the schedule fired, oldest first: ``{slot, run_id, fired_at}``."""
    table = book(access.store)
    table.get(name)
    return JSONResponse({"fires": table.fires(name)})


@router.delete("/{name}")
def remove_schedule(name: str, access: Annotated[Access, Depends(writer)]) -> JSONResponse:
    """Remove a schedule (the runs it submitted stay); returns what it was."""
    return JSONResponse(book(access.store).remove(name))


@router.post("/{name}/pause")
def pause_schedule(name: str, access: Annotated[Access, Depends(writer)]) -> JSONResponse:
    """Stop firing a schedule until resumed."""
    return JSONResponse(book(access.store).set_paused(name, True))


@router.post("/{name}/resume")
def resume_schedule(name: str, access: Annotated[Access, Depends(writer)]) -> JSONResponse:
    """Fire a paused schedule again from its next slot (missed slots are skipped)."""
    return JSONResponse(book(access.store).set_paused(name, False))
