"""The reader API's /metrics: requests by route template and status, behind the token.

In process (httpx's ASGI transport); Redis is a closed port, so a read answers 503.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette

from stepmetrics.store.api import create_app
from stepmetrics.store.api.telemetry import UNMATCHED, ApiTelemetry
from stepmetrics.store.connection import RedisConnection
from stepmetrics.store.endpoints import EXECUTION_PATH, PROMETHEUS_PATH, route_template
from stepmetrics.store.settings import ApiSettings, StoreSettings
from tests.support.prometheus import families, labelled, parse_samples, value

TOKEN = "unit-token-123456"  # noqa: S105
REQUESTS = "stepmetrics_api_requests_total"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture
async def app() -> AsyncIterator[Starlette]:
    redis = RedisConnection(url=f"redis://127.0.0.1:{_closed_port()}/0")
    application = create_app(ApiSettings(token=TOKEN, store=StoreSettings(redis=redis)))
    async with application.router.lifespan_context(application):
        yield application


def _client(app: Starlette, token: str | None = TOKEN) -> httpx.AsyncClient:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://api", headers=headers
    )


def _requests(text: str) -> dict[tuple[str, str, str], float]:
    samples = labelled(parse_samples(text), REQUESTS)
    named = [(dict(labels), count) for labels, count in samples.items()]
    return {(d["route"], d["method"], d["status"]): count for d, count in named}


async def test_metrics_need_the_token(app: Starlette) -> None:
    async with _client(app, token=None) as anonymous, _client(app, "wrong-token") as wrong:
        for client in (anonymous, wrong):
            refused = await client.get(PROMETHEUS_PATH)
            assert refused.status_code == 401
            assert "STEPMETRICS_API_TOKEN" in refused.json()["error"]
    async with _client(app) as client:
        answer = await client.get(PROMETHEUS_PATH)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain; version=")
    assert families(answer.text)["stepmetrics_api_requests"] == "counter"
    assert _requests(answer.text)[(PROMETHEUS_PATH, "GET", "401")] == 2


async def test_requests_count_under_their_route_template_never_the_raw_path(
    app: Starlette,
) -> None:
    template = route_template(EXECUTION_PATH)
    async with _client(app) as client, _client(app, token=None) as anonymous:
        assert (await client.get("/healthz")).status_code == 200
        assert (await client.get("/healthz")).status_code == 200
        assert (await client.get("/api/v1/executions/run-1")).status_code == 503
        assert (await client.get("/api/v1/executions/a%2Fb")).status_code == 503
        assert (await anonymous.get("/api/v1/executions/run-2")).status_code == 401
        assert (await client.get("/no/such/page/x1")).status_code == 404
        assert (await client.request("BREW", "/healthz")).status_code == 405
        text = (await client.get(PROMETHEUS_PATH)).text
    assert _requests(text) == {
        ("/healthz", "GET", "200"): 2,
        (template, "GET", "503"): 2,
        (template, "GET", "401"): 1,
        (UNMATCHED, "GET", "404"): 1,
        ("/healthz", "other", "405"): 1,
    }
    assert not any("run-1" in line for line in text.splitlines())
    samples = parse_samples(text)
    assert (
        value(samples, "stepmetrics_api_request_duration_seconds_count", {"route": template}) == 3
    )
    assert (
        value(samples, "stepmetrics_api_request_duration_seconds_count", {"route": "/healthz"}) == 3
    )


def test_two_apps_keep_separate_counts() -> None:
    first, second = ApiTelemetry(), ApiTelemetry()
    first.observe("/healthz", "GET", 200, 0.001)
    assert _requests(first.render().decode()) == {("/healthz", "GET", "200"): 1}
    assert _requests(second.render().decode()) == {}
