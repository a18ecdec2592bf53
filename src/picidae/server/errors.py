"""Errors as JSON: ``{code, message, field}`` with the status from ``picidae.errors``; request
validation failures name the field; nothing a user sends produces a 500. A run that exists in
another workspace than the token's is a 403 (``forbidden``), not a 404."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from picidae.errors import PicidaeError, RunNotFound
from picidae.server.jsonresp import JSONResponse
from picidae.store.capabilities import WorkspacedStore

log = logging.getLogger("picidae.server")


def error_body(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    """The body of every error response."""
    return {"code": code, "message": message, "field": field}


def _field(loc: Sequence[Any]) -> str:
    """``body.files.0.path`` → ``files.0.path``: only the leading location is dropped (a
    field may itself be called ``path``)."""
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header", "cookie"):
        parts = parts[1:]
    return ".".join(parts) or "body"


async def _owner(store: Any, run_id: str) -> str | None:
    """The workspace of a run the request's workspace could not see (``None``: no such run)."""
    if not isinstance(store, WorkspacedStore) or not run_id:
        return None
    from starlette.concurrency import run_in_threadpool

    try:
        return await run_in_threadpool(store.run_workspace, run_id)
    except PicidaeError:
        return None


async def picidae_response(store: Any, workspace: str | None,
                           exc: PicidaeError) -> JSONResponse:
    """The response to a ``PicidaeError`` raised for a request acting on ``workspace`` of the
    server's ``store`` (``None``: not known yet, so never a 403 for another's run)."""
    if isinstance(exc, RunNotFound) and workspace is not None:
        owner = await _owner(store, exc.run_id)
        if owner is not None and owner != workspace:
            return JSONResponse(error_body(
                "forbidden", f"run {exc.run_id} belongs to another workspace than this "
                "token's", "id"), status_code=403)
    return JSONResponse(exc.to_dict(), status_code=exc.http_status)


def install(app: FastAPI) -> None:
    """Register the handlers on ``app``."""

    @app.exception_handler(PicidaeError)
    async def _picidae(request: Request, exc: PicidaeError) -> JSONResponse:
        return await picidae_response(request.app.state.store,
                                      getattr(request.state, "workspace", None), exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        first = errors[0] if errors else {"loc": ("body",), "msg": "invalid request"}
        field = _field(first.get("loc", ()))
        message = f"{field}: {first.get('msg', 'invalid')}"
        if len(errors) > 1:
            message += f" (and {len(errors) - 1} more)"
        return JSONResponse(error_body("invalid_input", message, field), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400 and isinstance(exc.__cause__, ValueError):
            # FastAPI's "error parsing the body" for a ValueError that is not a
            # JSONDecodeError (an int past Python's 4,300-digit text limit): a body that is
            # not usable JSON, answered as malformed JSON is (422, naming the body).
            return JSONResponse(error_body("invalid_input",
                                           f"body: not usable JSON: {exc.__cause__}", "body"),
                                status_code=422)
        code = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized",
                403: "forbidden", 413: "payload_too_large"}.get(exc.status_code, "http_error")
        return JSONResponse(error_body(code, str(exc.detail)), status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error")
        return JSONResponse(error_body("internal", f"internal error: {type(exc).__name__}"),
                            status_code=500)
