"""``/api/v1/runs``: create, list, read, edit, transition, restore, heartbeat, batch write,
delete."""

from __future__ import annotations

import base64
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Query, Request
from pydantic import BaseModel, ConfigDict, Field, create_model

from picidae.core import fields, lifecycle
from picidae.core.order import parse_order_by
from picidae.core.record import new_record
from picidae.core.states import State
from picidae.core.times import record_to_json
from picidae.errors import InvalidInput
from picidae.server import best
from picidae.server.deps import Access, reader, writer
from picidae.server.jsonresp import JSONResponse
from picidae.server.prom import POINTS
from picidae.server.schemas import ERRORS, BatchOut, DeletedOut, RunOut, RunPageOut, StatusOut
from picidae.store.base import RunQuery
from picidae.store.checks import check_batch
from picidae.store.wire import batch_from_wire

router = APIRouter(prefix="/api/v1/runs", tags=["runs"], responses=ERRORS)

MAX_PAGE = 1000


class Strict(BaseModel):
    """Request bodies refuse unknown fields, so a typo is an error, not silently ignored."""

    model_config = ConfigDict(extra="forbid")


class TransitionIn(Strict):
    """A move as recorded: from, to, at (epoch seconds), reason, actor."""

    from_: str | None = Field(None, alias="from")
    to: str
    at: float | str = Field(..., description="Epoch seconds or an ISO 8601 time.")
    reason: str | None = Field(None, max_length=10_000)
    actor: str | None = Field(None, max_length=128)


def _create_model() -> type[BaseModel]:
    """``RunIn``, built from the field table: every field a create request may set."""
    specs: dict[str, Any] = {}
    for name in fields.names(create=True):
        spec = fields.BY_NAME[name]
        if name == "status":
            specs[name] = (Literal["queued", "running"], Field("queued", description=spec.doc))
        elif name == "transitions":
            specs[name] = (list[TransitionIn] | None, Field(
                None, description="Moves already made (imports); checked against the "
                                  "lifecycle."))
        else:
            specs[name] = (spec.wire, Field(None, description=spec.doc or None))
    model: type[BaseModel] = create_model(
        "RunIn", __base__=Strict, __doc__="A new run. ``status`` is ``queued`` (the default: "
        "work to be done) or ``running``.", **specs)
    return model


RunIn = _create_model()


class MoveIn(Strict):
    """A request to move a run to another state."""

    to: str = Field(..., description="The state to move to (synonyms accepted).")
    reason: str | None = Field(None, max_length=10_000)
    actor: str | None = Field(None, max_length=128)
    failure: dict[str, Any] | None = None
    at: float | str | None = None
    expect: list[str] | None = Field(None, description="Move only from one of these states.")


class EditIn(Strict):
    """An edit after the fact (any state): fields left out (or null) stay as they are."""

    alias: str | None = Field(None, description="A new alias; \"\" clears it.")
    add_tags: list[str] | None = Field(None, max_length=1000)
    remove_tags: list[str] | None = Field(None, max_length=1000)
    notes: str | None = Field(None, description="Replaces the notes; \"\" clears them.")
    actor: str | None = Field(None, max_length=128,
                              description="Who edits (default: the token's actor).")


class RestoreIn(Strict):
    """A restore request: who restores (default: the token's actor)."""

    actor: str | None = Field(None, max_length=128)


class HeartbeatIn(Strict):
    """A heartbeat, optionally with the time it was taken."""

    at: float | str | None = None


def _time(value: float | str | None, field: str) -> float | None:
    """A time from a request body: epoch seconds, or an ISO 8601 string as responses carry."""
    return fields.clean_time(value, field)


def _cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode()


def _offset(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        text = base64.urlsafe_b64decode(cursor.encode()).decode()
        kind, value = text.split(":", 1)
        offset = int(value)
        if kind != "o" or not 0 <= offset < 1 << 63:
            raise ValueError
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput(f"cursor {cursor!r} is not one this server gave out",
                           field="cursor") from None
    return offset


def _check_moves(moves: list[TransitionIn], status: str) -> list[dict[str, Any]]:
    current = State.QUEUED
    out = []
    for i, move in enumerate(moves):
        target = lifecycle.parse_state(move.to)
        decision = lifecycle.decide(current, target)
        if not decision.accepted:
            raise InvalidInput(f"transitions[{i}]: {current.value} → {target.value} is not a "
                               "legal move", field=f"transitions[{i}]")
        out.append({"from": current.value, "to": target.value,
                    "at": _time(move.at, f"transitions[{i}].at"), "reason": move.reason,
                    "actor": move.actor})
        current = target
    if out and current.value != status:
        raise InvalidInput(f"transitions end at {current.value!r} but status is {status!r}",
                           field="transitions")
    return out


@router.post("", status_code=201, response_model=RunOut)
def create_run(body: RunIn,  # type: ignore[valid-type]
               access: Annotated[Access, Depends(writer)]) -> JSONResponse:
    """Create a run (``queued`` unless ``status`` says ``running``) → 201 with the record."""
    store = access.store
    req: Any = body  # built from the field table: see _create_model
    given = req.model_dump(exclude={"transitions", "created_at", "name", "status"})
    access.refuse_foreign({name: given[name] for name in ("parent_id", "retry_of",
                                                          "replay_of")})
    parent = store.get_run(given["parent_id"]) if given.get("parent_id") else None
    record = new_record(
        req.name, status=req.status, parent=parent, actor=access.actor,
        reason="started" if req.status == "running" else None,
        now=_time(req.created_at, "created_at"),
        **given)
    if req.transitions is not None:
        record["transitions"] = _check_moves(req.transitions, req.status)
        if record["transitions"]:
            first = record["transitions"][0]["at"]
            record["started_at"] = record["last_heartbeat_at"] = first
    return JSONResponse(record_to_json(store.create_run(record)), status_code=201)


@router.get("", response_model=RunPageOut)
def list_runs(
    access: Annotated[Access, Depends(reader)],
    status: Annotated[list[str] | None, Query(description="States (repeat or comma-separate).")]
    = None,
    name: Annotated[str | None, Query(description="Exact name or glob (cv/*).")] = None,
    parent: Annotated[str | None, Query(description="Children of this run id.")] = None,
    kind: str | None = None,
    root: Annotated[str | None, Query(description="Runs under this root run id.")] = None,
    created_after: Annotated[float | None, Query(
        description="Created at or after (epoch seconds).")] = None,
    created_before: Annotated[float | None, Query(
        description="Created before (epoch seconds).")] = None,
    tag: Annotated[list[str] | None, Query(description="Runs carrying all these tags.")] = None,
    where: Annotated[str | None, Query(description="A filter expression.")] = None,
    order_by: Annotated[str | None, Query(
        description="e.g. 'metrics.acc desc'; 'best': each run by its own primary metric "
                    "and mode, best first.")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page.")]
    = None,
    offset: Annotated[int | None, Query(ge=0, le=(1 << 63) - 1,
                                        description="Skip this many (instead of a "
                                                          "cursor).")] = None,
    with_total: Annotated[bool, Query(description="Add the number of matching runs.")]
    = False,
    include_archived: bool = False,
    with_metrics: Annotated[bool, Query(description="Add each run's latest metrics.")] = True,
) -> JSONResponse:
    """A page of runs, newest first unless ``order_by`` says otherwise."""
    statuses = None
    if status:
        statuses = [lifecycle.parse_state(s).value for part in status for s in part.split(",")
                    if s.strip()]
    offset = offset if offset is not None and not cursor else _offset(cursor)
    worst_first = best.parse(order_by)
    query = RunQuery(status=statuses or None, name=name, parent=parent, kind=kind, root=root,
                     created_after=created_after, created_before=created_before,
                     tags=tag or None, where=where,
                     order_by=[] if worst_first is not None else parse_order_by(order_by),
                     limit=limit + 1, offset=offset, include_archived=include_archived)
    if worst_first is not None:  # the best-run order, over every matching run
        found = best.page(access.store, query, worst_first, offset, limit + 1)
    else:
        found = access.store.list_runs(query)
    more = len(found) > limit
    found = found[:limit]
    if with_metrics and found:
        latest = access.store.latest_metrics([r["id"] for r in found])
        for rec in found:
            rec["metrics"] = latest.get(rec["id"], {})
    page: dict[str, Any] = {"runs": [record_to_json(rec) for rec in found],
                            "next_cursor": _cursor(offset + limit) if more else None}
    if with_total:
        query.limit, query.offset = None, 0
        page["total"] = access.store.count_runs(query)
    return JSONResponse(page)


@router.get("/{run_id}", response_model=RunOut)
def get_run(run_id: str, access: Annotated[Access, Depends(reader)]) -> JSONResponse:
    """One run with its transitions; 404 for an unknown id."""
    return JSONResponse(record_to_json(access.store.get_run(run_id)))


@router.patch("/{run_id}", response_model=RunOut)
def edit_run(run_id: str, body: EditIn,
             access: Annotated[Access, Depends(writer)]) -> JSONResponse:
    """Edit a run's alias, tags or notes, whatever its state; the edit is kept in its
    ``edits`` and sent as a ``run.edited`` event. Returns the record."""
    changes = body.model_dump(exclude={"actor"}, exclude_none=True)
    return JSONResponse(record_to_json(access.store.edit_run(run_id, changes,
                                                             actor=body.actor or access.actor)))


@router.post("/{run_id}/restore", response_model=RunOut)
def restore_run(run_id: str, access: Annotated[Access, Depends(writer)],
                body: RestoreIn | None = None) -> JSONResponse:
    """Return an archived run to the terminal state it was archived from; 409 when the run
    is not archived."""
    actor = body.actor if body and body.actor else access.actor
    return JSONResponse(record_to_json(access.store.restore_run(run_id, actor=actor)))


@router.delete("/{run_id}", response_model=DeletedOut)
def delete_run(run_id: str, access: Annotated[Access, Depends(writer)]) -> JSONResponse:
    """Delete a run with its transitions, metrics and logs (not its children)."""
    access.store.get_run(run_id)
    return JSONResponse({"deleted": access.store.delete_runs([run_id])})


@router.post("/{run_id}/transitions", response_model=RunOut)
def transition(run_id: str, body: MoveIn,
               access: Annotated[Access, Depends(writer)]) -> JSONResponse:
    """Move a run; 409 with the legal targets when the lifecycle forbids it."""
    rec = access.store.transition(run_id, body.to, reason=body.reason,
                                  actor=body.actor or access.actor, at=_time(body.at, "at"),
                                  failure=body.failure,
                                  expect=set(body.expect) if body.expect else None)
    return JSONResponse(record_to_json(rec))


@router.post("/{run_id}/heartbeat", response_model=StatusOut)
async def heartbeat(run_id: str, request: Request, access: Annotated[Access, Depends(writer)],
                    body: HeartbeatIn | None = None) -> JSONResponse:
    """Record a heartbeat; a lost run returns to where it was. Returns the status. (The usual
    request is served by ``server.beats.BeatRoute`` before it gets here; both write through
    the server's ``Beats``.)"""
    at = _time(body.at, "at") if body else None
    status = await request.app.state.beats.beat(access.store, access.workspace, run_id, at)
    return JSONResponse({"id": run_id, "status": status})


@router.post("/{run_id}/batch", response_model=BatchOut)
async def write_batch(
    run_id: str, request: Request, access: Annotated[Access, Depends(writer)],
    idempotency_key: Annotated[str | None, Header(max_length=128)] = None,
) -> JSONResponse:
    """The SDK's batch write: packed metric chunks, log lines and merges, applied atomically.
    A repeated ``Idempotency-Key`` is acknowledged without being applied twice."""
    from starlette.concurrency import run_in_threadpool

    try:
        data = await request.json()
    except ValueError:
        raise InvalidInput("the body is not JSON", field="body") from None
    if not isinstance(data, dict):
        raise InvalidInput("the body must be a JSON object", field="body")
    batch = batch_from_wire(data)
    batch.batch_id = idempotency_key or batch.batch_id
    check_batch(batch)
    await run_in_threadpool(access.store.write, run_id, batch)
    POINTS.add(batch.n_points())
    return JSONResponse({"id": run_id, "points": batch.n_points(), "lines": len(batch.logs)})
