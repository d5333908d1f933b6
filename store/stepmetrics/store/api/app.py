"""The reader API application factory (Starlette, ASGI)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import orjson
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route, request_response

from stepmetrics.store import endpoints
from stepmetrics.store.api.auth import TokenAuthMiddleware
from stepmetrics.store.api.buckets import bucket_routes
from stepmetrics.store.api.cache import ResponseCache
from stepmetrics.store.api.openapi import openapi_document
from stepmetrics.store.api.responses import EXCEPTION_HANDLERS
from stepmetrics.store.api.routes import api_routes
from stepmetrics.store.api.telemetry import (
    ApiTelemetry,
    RequestMetricsMiddleware,
    prometheus_endpoint,
)
from stepmetrics.store.reader import MetricsReader
from stepmetrics.store.settings import ApiSettings
from stepmetrics.store.version import package_version

logger = logging.getLogger(__name__)

# Fail fast when Redis is away, rather than hanging a request.
REDIS_CONNECT_TIMEOUT = 2.0
REDIS_SOCKET_TIMEOUT = 10.0


def create_app(settings: ApiSettings, extra_routes: Sequence[BaseRoute] = ()) -> Starlette:
    """Build the reader API.

    Args:
        settings: the token, listen address and Redis settings.
        extra_routes: more routes (e.g. the web interface); any path under
            `/api/` is protected by the token like the API's own.

    The Redis client and the `MetricsReader` are created by the app's lifespan
    and held in `app.state.reader`; `app.state.settings` holds `settings`;
    `app.state.responses` is the `ResponseCache` of execution-scoped answers;
    `app.state.telemetry` the `ApiTelemetry` served on `/metrics` (behind the token).
    """
    telemetry = ApiTelemetry()
    openapi = orjson.dumps(openapi_document(package_version()))

    async def openapi_json(request: Request) -> Response:
        return Response(openapi, media_type="application/json")

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        redis = settings.store.redis.connect(
            timeout=REDIS_SOCKET_TIMEOUT, connect_timeout=REDIS_CONNECT_TIMEOUT
        )
        app.state.settings = settings
        app.state.reader = MetricsReader(redis, settings.store.keys)
        app.state.responses = ResponseCache()
        app.state.telemetry = telemetry
        logger.info(
            "reader API serving prefix %s from %s",
            settings.store.redis_prefix,
            settings.store.redis.redacted_url,
        )
        try:
            yield
        finally:
            await redis.aclose()

    return Starlette(
        routes=[
            *api_routes(),
            *bucket_routes(),
            Route("/openapi.json", openapi_json),
            # Its own token check: the app-wide one guards `/api/` only.
            Route(
                endpoints.PROMETHEUS_PATH,
                TokenAuthMiddleware(
                    request_response(prometheus_endpoint),
                    token=settings.token,
                    prefix=endpoints.PROMETHEUS_PATH,
                ),
                methods=["GET"],
            ),
            *extra_routes,
        ],
        middleware=[
            Middleware(RequestMetricsMiddleware, telemetry=telemetry),
            Middleware(TokenAuthMiddleware, token=settings.token),
        ],
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=lifespan,
    )
