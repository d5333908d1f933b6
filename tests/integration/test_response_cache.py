"""The reader API's version-checked cache, fed by the real `MetricsWriter`."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import orjson
import pytest
import redis.asyncio as aioredis
from starlette.applications import Starlette

from stepmetrics.processors.writes.writer import MetricsWriter
from stepmetrics.producers.events import Envelope, WireEvent
from stepmetrics.store.api.cache import ResponseCache
from stepmetrics.store.keys import RedisKeys
from tests.support.api import api_client, running_api
from tests.support.redis_targets import RedisTarget

TOKEN = "cache-test-token-0123456789"  # noqa: S105 (a test token)
T = 1_764_150_000_000_000
SCALARS = "/api/v1/metrics?execution_id=e1"
LISTS = "/api/v1/list-metrics?execution_id=e1"
DETAIL = "/api/v1/executions/e1"


def env(seq: int, events: list[WireEvent], eid: str = "e1") -> Envelope:
    return Envelope("p1", seq, eid, "train", None, events)


@pytest.fixture
async def app(redis_target: RedisTarget, redis_keys: RedisKeys) -> AsyncIterator[Starlette]:
    async with running_api(redis_target, redis_keys.prefix, TOKEN) as application:
        yield application


@pytest.fixture
async def http(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(app, TOKEN) as c:
        yield c


async def _get(http: httpx.AsyncClient, path: str) -> bytes:
    response = await http.get(path)
    assert response.status_code == 200, response.text
    return response.content


def _names(body: bytes) -> list[str]:
    return [item["name"] for item in orjson.loads(body)["items"]]


async def test_unchanged_execution_is_served_from_the_cache(
    app: Starlette, http: httpx.AsyncClient, redis_client: aioredis.Redis, redis_keys: RedisKeys
) -> None:
    writer = MetricsWriter(redis_client, redis_keys)
    first = [env(0, [("s", "acc", T + 10, 0.5), ("s", "loss", T, 2.0), ("l", "curve", T, [1.0])])]
    await writer.apply(first)
    cache: ResponseCache = app.state.responses
    bodies = [await _get(http, path) for path in (SCALARS, LISTS, DETAIL)]
    assert (cache.hits, cache.misses, len(cache)) == (0, 3, 3)
    assert [await _get(http, path) for path in (SCALARS, LISTS, DETAIL)] == bodies
    assert cache.hits == 3
    # A replay (the worker restarted before committing) skips the envelope:
    # the version stays, and so do the cached answers.
    await MetricsWriter(redis_client, redis_keys).apply(first)
    assert [await _get(http, path) for path in (SCALARS, LISTS, DETAIL)] == bodies
    assert cache.hits == 6
    # Another execution's writes leave this one's entries alone.
    await writer.apply([env(0, [("s", "acc", T, 1.0)], eid="e2")])
    assert await _get(http, SCALARS) == bodies[0]
    assert cache.hits == 7


async def test_any_applied_envelope_gives_a_fresh_answer(
    app: Starlette, http: httpx.AsyncClient, redis_client: aioredis.Redis, redis_keys: RedisKeys
) -> None:
    writer = MetricsWriter(redis_client, redis_keys)
    await writer.apply([env(0, [("s", "acc", T + 10, 0.5), ("s", "loss", T, 2.0)])])
    await writer.apply([env(1, [("l", "curve", T + 5, [1.0])])])
    before = {path: await _get(http, path) for path in (SCALARS, LISTS, DETAIL)}
    meta = await redis_client.hmget(redis_keys.meta("e1"), ["created_us", "updated_us"])
    # A late scalar recorded between the first and the last record time: it
    # changes neither created_us nor updated_us, only the data.
    await writer.apply([env(2, [("s", "late", T + 7, 9.0), ("l", "curve", T + 8, [2.0])])])
    assert await redis_client.hmget(redis_keys.meta("e1"), ["created_us", "updated_us"]) == meta
    after = {path: await _get(http, path) for path in (SCALARS, LISTS, DETAIL)}
    assert _names(after[SCALARS]) == ["acc", "late", "loss"]
    assert orjson.loads(after[LISTS])["items"][0]["value"] == [1.0, 2.0]
    assert orjson.loads(after[DETAIL])["lists"][0]["length"] == 2
    assert all(after[path] != before[path] for path in before)
    # A late OLDER value of a kept scalar changes nothing visible, yet it is an
    # applied envelope: the answer is rendered again (and is the same).
    cache: ResponseCache = app.state.responses
    misses = cache.misses
    await writer.apply([env(3, [("s", "acc", T + 1, -1.0)])])
    assert await _get(http, SCALARS) == after[SCALARS]
    assert cache.misses == misses + 1


async def test_cached_answers_equal_fresh_ones_and_errors_are_not_kept(
    app: Starlette, http: httpx.AsyncClient, redis_client: aioredis.Redis, redis_keys: RedisKeys
) -> None:
    writer = MetricsWriter(redis_client, redis_keys)
    await writer.apply([env(0, [("s", "acc", T, float("nan")), ("s", "top", T + 1, 1e300)])])
    paths = (SCALARS, f"{SCALARS}&limit=1", LISTS, DETAIL)
    cached = [await _get(http, path) for path in paths]
    cached = [await _get(http, path) for path in paths]
    assert app.state.responses.hits == len(paths)
    app.state.responses = ResponseCache()  # an empty cache renders everything again
    assert [await _get(http, path) for path in paths] == cached
    assert orjson.loads(cached[0])["items"][0]["value"] == "NaN"
    # Refusals and unknown executions are never kept.
    for _ in range(2):
        assert (await http.get(f"{SCALARS}&limit=0")).status_code == 400
        assert (await http.get("/api/v1/executions/nope")).status_code == 404
        assert orjson.loads(await _get(http, "/api/v1/metrics?execution_id=nope"))["items"] == []
    assert len(app.state.responses) == len(paths)
