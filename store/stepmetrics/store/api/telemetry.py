"""The reader API's Prometheus metrics: requests by route template and status.

`ApiTelemetry` holds one `CollectorRegistry` per app (`create_app` makes it and
keeps it in `app.state.telemetry`): two apps in one process, or two tests,
never share counts. `RequestMetricsMiddleware`, a pure ASGI middleware (no
`BaseHTTPMiddleware` cost), times every HTTP request and counts it under its
route's *template* (`/api/v1/executions/{execution_id:path}`), never the raw
path: the label values are bounded by the routes the app has. A request that
matches no route counts as `UNMATCHED`; the method is one of `METHODS` or
`other`. `prometheus_endpoint` answers `GET /metrics` in the text format (the
app puts it behind the read token).

With `STEPMETRICS_API_WORKERS` > 1 every uvicorn process has its own registry,
and a scrape answers from whichever process takes the connection.
"""

from __future__ import annotations

import time
from typing import Any, Final, cast

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client import generate_latest as render_metrics
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

NAMESPACE: Final = "stepmetrics_api"
UNMATCHED: Final = "unmatched"
METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
OTHER_METHOD: Final = "other"
# Seconds per request: cached answers take well under a millisecond, a large
# page or CSV export seconds.
LATENCY_BUCKETS: Final = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
)  # fmt: skip


class ApiTelemetry:
    """The API's request metrics in a registry of its own (`registry`)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._requests = Counter(
            f"{NAMESPACE}_requests",
            "HTTP requests answered, by route template, method and status",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self._latency = Histogram(
            f"{NAMESPACE}_request_duration_seconds",
            "Seconds from a request's arrival to the end of its answer, by route template",
            ["route"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        # (route, method, status) -> its two series: `labels()` costs ~10 us a
        # call, a lookup here well under 1 us. Bounded like the labels.
        self._series: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        """One answered request (`route` is a template or `UNMATCHED`)."""
        key = (route, method, status)
        series = self._series.get(key)
        if series is None:
            shown = method if method in METHODS else OTHER_METHOD
            series = (self._requests.labels(route, shown, str(status)), self._latency.labels(route))
            if shown == method:  # other methods: not cached, so the cache stays bounded
                self._series[key] = series
        series[0].inc()
        series[1].observe(seconds)

    def render(self) -> bytes:
        """The registry in the Prometheus text format."""
        return render_metrics(self.registry)


class RequestMetricsMiddleware:
    """Records every HTTP request into `telemetry` (outermost, so 401s count too)."""

    def __init__(self, app: ASGIApp, telemetry: ApiTelemetry) -> None:
        self.app = app
        self.telemetry = telemetry

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the server answers if the app raises before starting one

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            seconds = time.perf_counter() - started
            self.telemetry.observe(route_label(scope), scope["method"], status, seconds)


def route_label(scope: Scope) -> str:
    """The template of the route that took (or would take) the request."""
    route = scope.get("route")  # set by Starlette's router on a match
    if route is None:
        # Answered before routing (e.g. a 401 of the token check): match it here.
        routes = cast(list[BaseRoute], getattr(scope.get("app"), "routes", []))
        route = next((r for r in routes if r.matches(scope)[0] is not Match.NONE), None)
    path: Any = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED


async def prometheus_endpoint(request: Request) -> Response:
    """`GET /metrics`: the app's `ApiTelemetry` in the Prometheus text format."""
    telemetry = cast(ApiTelemetry, request.app.state.telemetry)
    return Response(telemetry.render(), media_type=CONTENT_TYPE_LATEST)
