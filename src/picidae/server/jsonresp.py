"""JSON responses through orjson, with NaN and infinities told apart.

JSON has no NaN or infinity, so by default a non-finite float is written as one of the
strings ``"NaN"``, ``"Infinity"`` and ``"-Infinity"`` (as protobuf's JSON mapping does), and a
client can tell a NaN metric from a missing one (``null``). A client may ask otherwise with
the ``X-Picidae-Nonfinite`` request header:

- ``literal``: ``NaN``, ``Infinity`` and ``-Infinity`` as bare tokens (Python's ``json`` and
  the SDK's HTTP store read them; a summary string ``"NaN"`` then stays a string, so every
  value reads back exactly as stored);
- ``null``: ``null`` (the web UI, whose charts draw a gap there);
- ``string`` (the default).
"""

from __future__ import annotations

import json
from contextvars import ContextVar
from typing import Any

import orjson
from starlette.responses import JSONResponse as _Base

from picidae.store.wire import spell_nonfinite

HEADER = "X-Picidae-Nonfinite"
MODES = ("string", "literal", "null")
_mode: ContextVar[str] = ContextVar("picidae_nonfinite", default="string")

class JSONResponse(_Base):
    """A JSONResponse rendered by orjson, non-finite floats written as the client asked."""

    def render(self, content: Any) -> bytes:
        mode = _mode.get()
        if mode == "literal":
            return json.dumps(content, separators=(",", ":"), allow_nan=True,
                              default=_plain).encode()
        content = spell_nonfinite(content, None if mode == "null" else "NaN")
        try:
            return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)
        except TypeError:  # an integer past 64 bits (a config value, say): json has them
            return json.dumps(content, separators=(",", ":"), default=_plain).encode()


def _plain(value: Any) -> Any:
    return orjson.loads(orjson.dumps(value))  # what orjson knows and json does not


class NonFinite:
    """ASGI middleware: honour ``X-Picidae-Nonfinite`` for this request."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self._name = HEADER.lower().encode()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            for name, value in scope.get("headers", []):
                if name == self._name:
                    mode = value.decode("latin-1").strip().lower()
                    if mode in MODES and mode != "string":
                        token = _mode.set(mode)
                        try:
                            await self.app(scope, receive, send)
                        finally:
                            _mode.reset(token)
                        return
        await self.app(scope, receive, send)
