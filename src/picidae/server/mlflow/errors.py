"""MLflow's error shape (``{error_code, message}`` with its HTTP status), the request
arguments of its routes (JSON body or query string), and the ``endpoint`` decorator every
MLflow route is declared with: it checks the token, reads the arguments, runs the handler in
the thread pool (the store is synchronous) and turns any error into MLflow's shape."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from picidae.errors import (
    ArtifactNotFound,
    FlowNotFound,
    IllegalTransition,
    InvalidInput,
    PicidaeError,
    RunFinished,
    RunNotFound,
    StoreUnavailable,
)
from picidae.server import deps
from picidae.server.deps import Access, Forbidden
from picidae.server.jsonresp import JSONResponse

log = logging.getLogger("picidae.server.mlflow")


class MlflowError(Exception):
    """An error answered in MLflow's shape: ``error_code`` (``RESOURCE_DOES_NOT_EXIST``,
    ``INVALID_PARAMETER_VALUE``...) and ``message``, with ``status`` as the HTTP status."""

    def __init__(self, error_code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.error_code = error_code
        self.message = message
        self.status = status


def not_found(message: str) -> MlflowError:
    """``RESOURCE_DOES_NOT_EXIST`` (404)."""
    return MlflowError("RESOURCE_DOES_NOT_EXIST", message, 404)


def invalid(message: str) -> MlflowError:
    """``INVALID_PARAMETER_VALUE`` (400)."""
    return MlflowError("INVALID_PARAMETER_VALUE", message, 400)


def as_mlflow(exc: Exception) -> MlflowError:
    """Any error a route may raise, as MLflow would answer it."""
    if isinstance(exc, MlflowError):
        return exc
    if isinstance(exc, (RunNotFound, ArtifactNotFound, FlowNotFound)):
        return not_found(exc.message)
    if isinstance(exc, Forbidden):
        return MlflowError("PERMISSION_DENIED", exc.message, 403)
    if isinstance(exc, (IllegalTransition, RunFinished)):
        return MlflowError("INVALID_STATE", exc.message, 400)
    if isinstance(exc, InvalidInput):
        return invalid(exc.message)
    if isinstance(exc, StoreUnavailable):
        return MlflowError("TEMPORARILY_UNAVAILABLE", exc.message, 503)
    if isinstance(exc, PicidaeError):
        return MlflowError("INVALID_PARAMETER_VALUE", exc.message, 400)
    if isinstance(exc, HTTPException):
        code = {401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED",
                404: "ENDPOINT_NOT_FOUND", 413: "INVALID_PARAMETER_VALUE"}
        return MlflowError(code.get(exc.status_code, "BAD_REQUEST"), str(exc.detail),
                           exc.status_code)
    log.exception("unexpected error in an MLflow route")
    return MlflowError("INTERNAL_ERROR", f"internal error: {type(exc).__name__}", 500)


def error_response(exc: Exception) -> JSONResponse:
    """The response for ``exc``."""
    err = as_mlflow(exc)
    headers = {"WWW-Authenticate": "Bearer"} if err.status == 401 else None
    return JSONResponse({"error_code": err.error_code, "message": err.message},
                        status_code=err.status, headers=headers)


class Args:
    """A request's arguments: the JSON body of a POST/PATCH/DELETE, the query string of a GET
    (repeated keys become lists). Getters raise ``INVALID_PARAMETER_VALUE`` naming the field."""

    def __init__(self, data: dict[str, Any], path: dict[str, Any] | None = None) -> None:
        self.data = {**data, **(path or {})}

    def get(self, name: str, default: Any = None) -> Any:
        """The raw value or ``default``."""
        value = self.data.get(name)
        return default if value is None else value

    def text(self, name: str, *, required: bool = True, default: str | None = None
             ) -> str | None:
        """A string argument."""
        value = self.data.get(name)
        if isinstance(value, list):
            value = value[0] if value else None
        if value is None or value == "":
            if required:
                raise invalid(f"Missing value for required parameter '{name}'.")
            return default
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            raise invalid(f"Invalid value {value!r} for parameter '{name}': a string.")
        return value

    def req(self, name: str) -> str:
        """A required string argument."""
        value = self.text(name)
        assert value is not None
        return value

    def run_id(self) -> str:
        """The ``run_id`` argument (or the older ``run_uuid``)."""
        value = self.text("run_id", required=False) or self.text("run_uuid", required=False)
        if not value:
            raise invalid("Missing value for required parameter 'run_id'.")
        return value

    def number(self, name: str, *, integer: bool = False, required: bool = False
               ) -> float | None:
        """A numeric argument (numbers may come as strings: int64 in JSON, query values)."""
        value = self.data.get(name)
        if isinstance(value, list):
            value = value[0] if value else None
        if value is None or value == "":
            if required:
                raise invalid(f"Missing value for required parameter '{name}'.")
            return None
        try:
            if isinstance(value, bool):
                raise ValueError
            number = int(value) if integer else float(value)
        except (TypeError, ValueError):
            raise invalid(f"Invalid value {value!r} for parameter '{name}': a "
                          f"{'whole ' if integer else ''}number.") from None
        return float(number)

    def seconds(self, name: str) -> float | None:
        """A time in epoch milliseconds (MLflow's unit) as epoch seconds."""
        value = self.number(name)
        if value is None:
            return None
        if not (math.isfinite(value) and 0 <= value < 1e15):
            raise invalid(f"Invalid value {self.data.get(name)!r} for parameter '{name}': "
                          "milliseconds since the epoch.")
        return value / 1000.0

    def items(self, name: str) -> list[Any]:
        """A list argument (a single value is a list of one)."""
        value = self.data.get(name)
        if value is None:
            return []
        if not isinstance(value, list):
            value = [value]
        return value

    def pairs(self, name: str) -> list[tuple[str, str]]:
        """``[{key, value}]`` as ``(key, value)`` pairs, each checked."""
        out = []
        for i, item in enumerate(self.items(name)):
            if not isinstance(item, dict) or not isinstance(item.get("key"), str) \
                    or not item["key"]:
                raise invalid(f"Invalid value for parameter '{name}[{i}]': an object with a "
                              "'key'.")
            value = item.get("value")
            out.append((item["key"], "" if value is None else str(value)))
        return out


async def _args(request: Request) -> dict[str, Any]:
    if request.method in ("GET", "HEAD"):
        data: dict[str, Any] = {}
        for key, value in request.query_params.multi_items():
            if key in data:
                data[key] = [*(data[key] if isinstance(data[key], list) else [data[key]]),
                             value]
            else:
                data[key] = value
        return data
    body = await request.body()
    if not body.strip():
        return {}
    import json

    try:
        parsed = json.loads(body)
    except ValueError:
        raise invalid("The request body is not JSON.") from None
    if not isinstance(parsed, dict):
        raise invalid("The request body must be a JSON object.")
    return parsed


Handler = Callable[[Access, Args], Any]


def endpoint(router: APIRouter, path: str, methods: list[str], *, write: bool = True
             ) -> Callable[[Handler], Handler]:
    """Declare ``handler(access, args) -> dict`` as the MLflow route ``path``."""

    def wrap(handler: Handler) -> Handler:
        async def run(request: Request) -> Response:
            try:
                access = await (deps.writer(request) if write else deps.reader(request))
                args = Args(await _args(request), dict(request.path_params))
                result = await run_in_threadpool(handler, access, args)
            except Exception as exc:  # every error in MLflow's shape
                return error_response(exc)
            if isinstance(result, Response):
                return result
            return JSONResponse(result if result is not None else {})

        run.__name__ = f"mlflow_{handler.__name__}"
        run.__doc__ = handler.__doc__
        router.add_api_route(path, run, methods=methods)
        return handler

    return wrap


def fallback_router() -> APIRouter:
    """A catch-all answering MLflow's ``ENDPOINT_NOT_FOUND`` (404) for a route Picidae does
    not serve, after the token check (so it tells nothing without one)."""
    router = APIRouter()

    async def unsupported(request: Request) -> Response:
        try:
            await deps.reader(request)
        except Exception as exc:
            return error_response(exc)
        return JSONResponse({"error_code": "ENDPOINT_NOT_FOUND",
                             "message": f"Picidae does not serve MLflow's {request.method} "
                                        f"{request.url.path} (see docs/mlflow.md)"},
                            status_code=404)

    router.add_api_route("/{rest:path}", unsupported,
                         methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    return router
