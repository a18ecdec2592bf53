"""``/api/v1/flows``: named, versioned templates of submitted work, and the webhook that runs
one (``POST /api/v1/flows/{name}/runs``, recorded with ``trigger=webhook``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import Field

from picidae.core.submission import Spec, parse_assignments, plan, plan_children
from picidae.core.times import record_to_json
from picidae.core.validation import clean_mapping, clean_tags, deep_merge
from picidae.server.deps import Access, reader, writer
from picidae.server.jsonresp import JSONResponse
from picidae.server.routes.runs import Strict
from picidae.server.schemas import ERRORS, FlowRunOut

router = APIRouter(prefix="/api/v1/flows", tags=["flows"], responses=ERRORS)


class FlowIn(Strict):
    """A new version of a flow."""

    name: str = Field(..., min_length=1, max_length=256)
    spec: dict[str, Any] = Field(..., description="command, config, resources, inputs, eval…")


class FlowRunIn(Strict):
    """Run a flow: overrides of its default config, and which version (default: latest)."""

    config: dict[str, Any] | None = None
    set: list[str] | None = Field(None, description="KEY=VALUE overrides, as on the CLI.")
    version: int | None = Field(None, ge=1, le=2**31 - 1)
    name: str | None = Field(None, max_length=512, description="Run name (default: the flow's).")
    tags: list[str] | None = None
    trigger: str = Field("webhook", description="What started it (default: webhook).")


@router.get("")
def list_flows(access: Annotated[Access, Depends(reader)]) -> JSONResponse:
    """Every flow's latest version with its number of versions and last run."""
    return JSONResponse({"flows": access.store.list_flows()})


@router.post("", status_code=201)
def add_flow(body: FlowIn, access: Annotated[Access, Depends(writer)]) -> JSONResponse:
    """Store a new version of a flow (version 1 for a new name) → 201."""
    spec = Spec.from_dict(body.spec)
    return JSONResponse(access.store.add_flow(body.name, spec.to_dict()), status_code=201)


@router.get("/{name}")
def get_flow(name: str, access: Annotated[Access, Depends(reader)],
             version: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None) -> JSONResponse:
    """One version of a flow (the latest by default); 404 when there is none."""
    return JSONResponse(access.store.get_flow(name, version))


@router.post("/{name}/runs", status_code=201, response_model=FlowRunOut)
def run_flow(name: str, access: Annotated[Access, Depends(writer)],
             body: FlowRunIn | None = None) -> JSONResponse:
    """Submit a run of the flow (queued for a worker) → 201 with the run and its children's
    ids (a flow with seeds or a grid makes a parent with children)."""
    body = body or FlowRunIn.model_validate({})
    store = access.store
    flow = store.get_flow(name, body.version)
    spec = Spec.from_dict(flow["spec"])
    overrides = deep_merge(clean_mapping(body.config, "config"), parse_assignments(body.set))
    spec.config = deep_merge(spec.config, overrides)
    if body.tags:
        spec.tags = clean_tags([*spec.tags, *body.tags])
    top = store.create_run(plan(spec, name=body.name or name, trigger=body.trigger,
                                flow=(flow["name"], flow["version"]), actor=access.actor))
    children = [store.create_run(rec)["id"]
                for rec in plan_children(spec, top, actor=access.actor)]
    return JSONResponse({"run": record_to_json(top), "children": children}, status_code=201)
