"""The charts' binary data endpoint, in-process over a real redis-server."""

from __future__ import annotations

import math
from array import array
from collections.abc import AsyncIterator

import httpx
import pytest
import redis.asyncio as aioredis
from starlette.applications import Starlette

from stepmetrics.processors.writes.reduce import pack_values
from stepmetrics.store.api import session_cookie_value
from stepmetrics.store.keys import RedisKeys
from stepmetrics.store.web import SESSION_COOKIE, web_routes
from tests.support.api import api_client, running_api
from tests.support.redis_targets import RedisTarget
from tests.support.seed import seed_execution

TOKEN = "values-test-token-0123"  # noqa: S105 (a test token)
VALUES = [0.5, math.nan, math.inf, -math.inf, -0.0, 1e-300, 1 / 3]


@pytest.fixture
async def app(redis_target: RedisTarget, redis_keys: RedisKeys) -> AsyncIterator[Starlette]:
    routes = web_routes(TOKEN)
    async with running_api(redis_target, redis_keys.prefix, TOKEN, routes) as application:
        yield application


@pytest.fixture
async def http(
    app: Starlette, redis_client: aioredis.Redis, redis_keys: RedisKeys
) -> AsyncIterator[httpx.AsyncClient]:
    await seed_execution(
        redis_client, redis_keys, "e/1", pipeline_name="p", created_us=1, lists={"odd": VALUES}
    )
    async with api_client(app) as client:
        client.cookies.set(SESSION_COOKIE, session_cookie_value(TOKEN))
        yield client


async def test_list_values_are_the_stored_float64_bytes(http: httpx.AsyncClient) -> None:
    response = await http.get("/api/web/list-values", params={"execution_id": "e/1", "name": "odd"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.content == pack_values(VALUES)
    decoded = array("d", response.content).tolist()
    assert decoded[0] == 0.5
    assert math.isnan(decoded[1])
    assert decoded[2:4] == [math.inf, -math.inf]
    assert math.copysign(1, decoded[4]) == -1  # -0.0 survives
    assert decoded[5:] == [1e-300, 1 / 3]


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"execution_id": "e/1", "name": "none"}, 404),
        ({"execution_id": "e/2", "name": "odd"}, 404),
        ({"execution_id": "e/1"}, 400),
        ({"execution_id": "e/1", "name": "odd", "limit": "3"}, 400),
    ],
)
async def test_unknown_lists_and_bad_parameters_are_json_errors(
    http: httpx.AsyncClient, params: dict[str, str], status: int
) -> None:
    response = await http.get("/api/web/list-values", params=params)
    assert response.status_code == status
    assert "error" in response.json()


async def test_list_values_need_the_token_or_the_session(http: httpx.AsyncClient) -> None:
    params = {"execution_id": "e/1", "name": "odd"}
    http.cookies.clear()
    assert (await http.get("/api/web/list-values", params=params)).status_code == 401
    http.cookies.set(SESSION_COOKIE, session_cookie_value("another-token-123"))
    assert (await http.get("/api/web/list-values", params=params)).status_code == 401
    http.cookies.clear()
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    ok = await http.get("/api/web/list-values", params=params, headers=bearer)
    assert ok.content == pack_values(VALUES)
