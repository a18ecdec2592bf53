"""JSON responses through orjson (fast; NaN and infinities become null, as JSON has none).

A client that can read them (the SDK's HTTP store) sends ``X-Picidae-Nonfinite: literal`` and
gets ``NaN``, ``Infinity`` and ``-Infinity`` spelled out instead (Python's ``json`` reads
them), so a summary value or latest metric that is NaN or infinite reads back as it was
stored, exactly as on the other stores.
"""

from __future__ import annotations

import json
import math
from contextvars import ContextVar
from typing import Any

import orjson
from starlette.responses import JSONResponse as _Base

HEADER = "X-Picidae-Nonfinite"
_literal: ContextVar[bool] = ContextVar("picidae_nonfinite_literal", default=False)


class JSONResponse(_Base):
    """A JSONResponse rendered by orjson (or, when the client asked, with NaN spelled out)."""

    def render(self, content: Any) -> bytes:
        if _literal.get():
            return json.dumps(content, separators=(",", ":"), allow_nan=True,
                              default=_plain).encode()
        try:
            return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)
        except TypeError:  # an integer past 64 bits (a config value, say): json has them
            return json.dumps(_finite(content), separators=(",", ":"),
                              default=_plain).encode()


def _finite(value: Any) -> Any:
    """``value`` with NaN and infinities as ``None``, as orjson writes them."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _plain(value: Any) -> Any:
    return orjson.loads(orjson.dumps(value))  # what orjson knows and json does not


class NonFinite:
    """ASGI middleware: honour ``X-Picidae-Nonfinite: literal`` for this request."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self._name = HEADER.lower().encode()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            for name, value in scope.get("headers", []):
                if name == self._name and value == b"literal":
                    token = _literal.set(True)
                    try:
                        await self.app(scope, receive, send)
                    finally:
                        _literal.reset(token)
                    return
        await self.app(scope, receive, send)
