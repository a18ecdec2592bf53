"""A run's log over HTTP: read from an offset (for tailing), append lines."""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from picidae.core.run import LogLine
from picidae.core.validation import MAX_TEXT_LINE, clean_label
from picidae.server.deps import Access, reader, writer
from picidae.server.jsonresp import JSONResponse
from picidae.server.schemas import ERRORS, AcceptedOut, LogsOut
from picidae.store.base import Batch

router = APIRouter(prefix="/api/v1/runs", tags=["logs"], responses=ERRORS)


class LineIn(BaseModel):
    """One log line."""

    model_config = ConfigDict(extra="forbid")
    text: str = Field(..., max_length=MAX_TEXT_LINE)
    stream: str = Field("log", max_length=16)
    time: float | None = None


class LinesIn(BaseModel):
    """Lines to append."""

    model_config = ConfigDict(extra="forbid")
    lines: list[LineIn] = Field(..., max_length=100_000)


@router.get("/{run_id}/logs", response_model=LogsOut)
def read_logs(run_id: str, access: Annotated[Access, Depends(reader)],
              offset: Annotated[int, Query(ge=0, le=(1 << 63) - 1)] = 0,
              limit: Annotated[int | None, Query(ge=1, le=100_000)] = None) -> JSONResponse:
    """Lines from ``offset`` on; ``next_offset`` is where the next read starts."""
    access.store.get_run(run_id)
    lines = access.store.logs(run_id, offset, limit)
    return JSONResponse({"id": run_id, "offset": offset, "next_offset": offset + len(lines),
                         "lines": [{"time": ln.time, "stream": ln.stream, "text": ln.text}
                                   for ln in lines]})


@router.post("/{run_id}/logs", response_model=AcceptedOut)
def append_logs(run_id: str, body: LinesIn,
                access: Annotated[Access, Depends(writer)]) -> JSONResponse:
    """Append lines to a run's log."""
    now = time.time()
    lines = [LogLine(ln.time if ln.time is not None else now,
                     clean_label(ln.stream, "stream") or "log", ln.text) for ln in body.lines]
    access.store.write(run_id, Batch(logs=lines))
    return JSONResponse({"id": run_id, "accepted": len(lines)})
