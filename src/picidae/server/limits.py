"""A request-body size limit as ASGI middleware: over the limit is a 413, before the route runs."""

from __future__ import annotations

from typing import Any

import orjson

Scope = dict[str, Any]

#: Blob uploads stream to disk with a limit of their own (``PICIDAE_MAX_BLOB_MB``).
EXEMPT = ("/api/v1/blobs/", "/api/2.0/mlflow-artifacts/")


class BodyLimit:
    """Refuse bodies over ``max_bytes`` (by Content-Length, or while streaming)."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def _refuse(self, send: Any) -> None:
        body = orjson.dumps({"code": "payload_too_large", "field": "body",
                             "message": f"request body over {self.max_bytes} bytes; send "
                                        "smaller batches or raise PICIDAE_MAX_BODY_MB"})
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("path", "").startswith(EXEMPT):
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    too_big = int(value) > self.max_bytes
                except ValueError:
                    too_big = False
                if too_big:
                    await self._refuse(send)
                    return
        seen = 0
        refused = False

        async def limited() -> dict[str, Any]:
            nonlocal seen, refused
            message: dict[str, Any] = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    refused = True
                    raise _TooBig
            return message

        try:
            await self.app(scope, limited, send)
        except _TooBig:
            await self._refuse(send)


class _TooBig(Exception):
    pass
