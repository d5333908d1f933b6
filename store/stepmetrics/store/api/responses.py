"""JSON responses (orjson) and the JSON error handlers of the reader API."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from stepmetrics.store.errors import StoreQueryError, StoreUnavailableError


class JSONResponse(Response):
    """A JSON response encoded by orjson (values must already be JSON-safe:
    see `stepmetrics.store.wire` for non-finite numbers)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def error(status: int, message: str, **extra: Any) -> JSONResponse:
    """`{"error": message, ...}` with `status`."""
    return JSONResponse({"error": message, **extra}, status_code=status)


async def http_error(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, HTTPException):  # pragma: no cover - registration guarantees it
        raise exc
    return JSONResponse(
        {"error": exc.detail}, status_code=exc.status_code, headers=dict(exc.headers or {})
    )


async def query_error(request: Request, exc: Exception) -> Response:
    return error(400, str(exc))


async def unavailable_error(request: Request, exc: Exception) -> Response:
    return error(503, str(exc), retriable=True)


EXCEPTION_HANDLERS = {
    HTTPException: http_error,
    StoreQueryError: query_error,
    StoreUnavailableError: unavailable_error,
}
