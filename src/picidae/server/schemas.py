"""What the API answers, as the OpenAPI document describes it: the error body of every
refusal and the shapes of the main answers.

Documentation only — routes build their JSON themselves (``jsonresp``) — but checked: the
Schemathesis test validates every answer against these (``response_schema_conformance``),
so the document cannot drift from what the server sends. Each model names the fields a
client may rely on and allows more (a run record grows with the field table).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from picidae.core.states import State

#: A metric value in JSON: a number, or "NaN"/"Infinity"/"-Infinity" (or ``null``, the form
#: older servers used for all three).
MetricValue = float | int | str | None


class Open(BaseModel):
    """An answer whose listed fields are promised; others may be present."""

    model_config = ConfigDict(extra="allow")


class ErrorOut(Open):
    """The body of every refusal: a stable ``code``, a message a person can act on, and the
    field it is about (``null`` when none)."""

    code: str
    message: str
    field: str | None


#: The refusals every route may answer, for the routers' ``responses=``.
ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorOut, "description": text} for status, text in (
        (401, "No token, or an unknown one."),
        (403, "A read token on a write route, or another workspace's run."),
        (404, "No such run (or flow, artifact, blob)."),
        (409, "An illegal transition, or a write to a run that has ended."),
        (413, "The body is over the server's limit."),
        (422, "Bad input: the field is named."),
    )}


class RunOut(Open):
    """A run record (see the contract's field table)."""

    id: str
    name: str
    status: State
    parent_id: str | None = None
    root_id: str | None = None
    created_at: str | None = Field(None, description="ISO 8601 UTC, e.g. "
                                   "2026-12-04T18:35:59.3205016Z (as are started_at, "
                                   "ended_at, last_heartbeat_at and transitions' at).")
    started_at: str | None = None
    ended_at: str | None = None
    last_heartbeat_at: str | None = None


class RunPageOut(Open):
    """A page of runs."""

    runs: list[RunOut]
    next_cursor: str | None
    total: int | None = None


class DeletedOut(Open):
    """The ids deleted."""

    deleted: list[str]


class StatusOut(Open):
    """A run's state after a heartbeat."""

    id: str
    status: State


class AcceptedOut(Open):
    """How many items a write took."""

    id: str
    accepted: int = Field(..., ge=0)


class BatchOut(Open):
    """What a batch write took."""

    id: str
    points: int = Field(..., ge=0)
    lines: int = Field(..., ge=0)


class KeysOut(Open):
    """A run's metric keys and their latest values."""

    id: str
    keys: list[str]
    latest: dict[str, MetricValue]


class SeriesOut(Open):
    """One metric series (``points``; or packed columns with ``format=packed``)."""

    id: str
    key: str
    total: int = Field(..., ge=0)


class LineOut(Open):
    """One log line."""

    time: float
    stream: str
    text: str


class LogsOut(Open):
    """Log lines from an offset."""

    id: str
    offset: int
    next_offset: int
    lines: list[LineOut]


class ArtifactOut(Open):
    """An artifact record (a folder with its ``files`` and ``links``)."""

    id: int
    name: str
    kind: str
    digest: str
    size: int


class ArtifactsOut(Open):
    """A run's artifacts."""

    id: str
    artifacts: list[ArtifactOut]


class BlobOut(Open):
    """An uploaded blob."""

    digest: str
    created: bool


class ClaimOut(Open):
    """Runs claimed by a worker (empty when there is no work)."""

    runs: list[RunOut]


class FlowRunOut(Open):
    """A submitted flow run and its children's ids."""

    run: RunOut
    children: list[str]


class HealthOut(Open):
    """Liveness."""

    status: str
    version: str
