"""GET /api/v1/list-buckets: a list metric reduced to buckets, over a real redis-server."""

from __future__ import annotations

import math
from array import array
from collections.abc import AsyncIterator

import httpx
import pytest
import redis.asyncio as aioredis
from starlette.applications import Starlette

from stepmetrics.store.downsample import FINITE, MAX_BUCKETS, NAN, POS_INF
from stepmetrics.store.endpoints import LIST_BUCKETS_PATH
from stepmetrics.store.keys import RedisKeys
from tests.support.api import API_TOKEN as TOKEN
from tests.support.api import api_client
from tests.support.seed import seed_execution

LONG = [float(i % 97) for i in range(50_000)]
LONG[31_337] = 1e12
LONG[40_000] = math.nan
LONG[45_000] = math.inf


@pytest.fixture
async def http(
    app: Starlette, redis_client: aioredis.Redis, redis_keys: RedisKeys
) -> AsyncIterator[httpx.AsyncClient]:
    lists = {"long": LONG, "short/one": [0.5, math.nan, -math.inf, 2.0]}
    await seed_execution(
        redis_client, redis_keys, "e/1", pipeline_name="p", created_us=1, lists=lists
    )
    async with api_client(app, TOKEN) as client:
        yield client


async def test_50000_values_become_1000_buckets_that_keep_the_spikes(
    http: httpx.AsyncClient,
) -> None:
    answer = await http.get(LIST_BUCKETS_PATH, params={"execution_id": "e/1", "name": "long"})
    assert answer.status_code == 200
    body = answer.json()
    assert (body["length"], body["start"], body["end"], body["buckets"]) == (
        50_000,
        0,
        50_000,
        1000,
    )
    assert body["max"][31_337 // 50] == 1e12
    assert body["flags"][800] == NAN | FINITE
    assert body["flags"][900] == POS_INF | FINITE
    assert max(body["max"]) == 1e12
    assert min(body["min"]) == 0.0
    assert len(answer.content) < 40_000  # not the 50,000 values


async def test_a_small_range_is_exact_and_the_binary_form_matches(http: httpx.AsyncClient) -> None:
    query = {"execution_id": "e/1", "name": "long", "start": "31330", "end": "31340"}
    body = (await http.get(LIST_BUCKETS_PATH, params=query)).json()
    assert body["buckets"] == 10
    assert body["last"] == LONG[31_330:31_340]
    binary = await http.get(LIST_BUCKETS_PATH, params={**query, "format": "float64-le"})
    assert binary.headers["content-type"] == "application/octet-stream"
    assert binary.headers["x-stepmetrics-buckets"] == "10"
    assert binary.headers["x-stepmetrics-length"] == "50000"
    assert binary.headers["x-stepmetrics-non-finite"] == "0"
    assert array("d", binary.content[160:240]).tolist() == LONG[31_330:31_340]
    assert binary.content[240:] == bytes([FINITE] * 10)


async def test_non_finite_values_travel_as_their_json_names(http: httpx.AsyncClient) -> None:
    query = {"execution_id": "e/1", "name": "short/one"}
    body = (await http.get(LIST_BUCKETS_PATH, params=query)).json()
    assert body["last"] == [0.5, "NaN", "NaN", 2.0]
    assert body["flags"] == [FINITE, NAN, 4, FINITE]
    assert body["non_finite"] == 2


@pytest.mark.parametrize(
    ("params", "status", "says"),
    [
        ({"execution_id": "e/1", "name": "none"}, 404, "'none'"),
        ({"execution_id": "e/2", "name": "long"}, 404, "'e/2'"),
        ({"execution_id": "e/1"}, 400, "missing: ['name']"),
        ({"execution_id": "e/1", "name": "long", "buckets": "15"}, 400, "16..4000"),
        ({"execution_id": "e/1", "name": "long", "buckets": str(MAX_BUCKETS + 1)}, 400, "16..4000"),
        ({"execution_id": "e/1", "name": "long", "start": "-1"}, 400, "start='-1'"),
        ({"execution_id": "e/1", "name": "long", "start": "²"}, 400, "start='²'"),
        ({"execution_id": "e/1", "name": "long", "end": "1e3"}, 400, "end='1e3'"),
        ({"execution_id": "e/1", "name": "long", "format": "csv"}, 400, "float64-le"),
        ({"execution_id": "e/1", "name": "long", "limit": "3"}, 400, "unknown"),
    ],
)
async def test_unknown_lists_and_bad_parameters_are_clear_errors(
    http: httpx.AsyncClient, params: dict[str, str], status: int, says: str
) -> None:
    answer = await http.get(LIST_BUCKETS_PATH, params=params)
    assert answer.status_code == status
    assert says in answer.json()["error"]


async def test_buckets_need_the_token(app: Starlette) -> None:
    async with api_client(app) as anonymous:
        answer = await anonymous.get(LIST_BUCKETS_PATH, params={"execution_id": "e", "name": "n"})
    assert answer.status_code == 401


async def test_the_openapi_document_states_the_bounds(http: httpx.AsyncClient) -> None:
    operation = (await http.get("/openapi.json")).json()["paths"][LIST_BUCKETS_PATH]["get"]
    by_name = {p["name"]: p for p in operation["parameters"]}
    schema = by_name["buckets"]["schema"]
    assert (schema["minimum"], schema["maximum"]) == (16, MAX_BUCKETS)
    assert by_name["execution_id"]["required"] is True
    assert "application/octet-stream" in operation["responses"]["200"]["content"]


async def test_a_range_that_ends_before_it_starts_is_empty(http: httpx.AsyncClient) -> None:
    # The document bounds start and end each; any pair it allows is answered.
    params = {"execution_id": "e/1", "name": "long", "start": "999", "end": "9"}
    answer = await http.get(LIST_BUCKETS_PATH, params=params)
    assert answer.status_code == 200
    body = answer.json()
    assert (body["min"], body["max"], body["last"]) == ([], [], [])
