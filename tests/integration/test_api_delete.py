"""DELETE /api/v1/executions/{id} on the reader API over a real redis-server:
the token scopes (read 403, deleting off 403, admin 204/404), the listing,
the response cache and the counters after a delete."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette

from stepmetrics.processors.writes.writer import MetricsWriter
from stepmetrics.producers.events import Envelope
from stepmetrics.store.client import AsyncMetricsClient
from stepmetrics.store.connection import RedisClient
from stepmetrics.store.endpoints import EXECUTIONS_PATH, STATS_PATH, execution_path
from stepmetrics.store.errors import ApiError, StoreQueryError
from stepmetrics.store.keys import RedisKeys
from stepmetrics.store.settings import ClientSettings
from tests.support.api import ADMIN_TOKEN, API_TOKEN, api_client, running_api
from tests.support.redis_targets import RedisTarget

T = 1_764_150_000_000_000


@pytest.fixture
async def admin_app(redis_target: RedisTarget, redis_keys: RedisKeys) -> AsyncIterator[Starlette]:
    async with running_api(
        redis_target, redis_keys.prefix, API_TOKEN, admin_token=ADMIN_TOKEN
    ) as application:
        yield application


async def seed(client: RedisClient, keys: RedisKeys, *eids: str) -> None:
    writer = MetricsWriter(client, keys)
    await writer.apply(
        [
            Envelope("p", 0, e, "train", None, [("s", "acc", T, 0.5), ("l", "c", T, [1.0])])
            for e in eids
        ]
    )


async def test_only_the_admin_token_deletes(
    admin_app: Starlette, redis_client: RedisClient, redis_keys: RedisKeys
) -> None:
    await seed(redis_client, redis_keys, "e/1", "e2")
    url = execution_path("e/1")
    async with (
        api_client(admin_app, API_TOKEN) as reader,
        api_client(admin_app, ADMIN_TOKEN) as admin,
    ):
        refused = await reader.delete(url)
        assert refused.status_code == 403
        assert "STEPMETRICS_API_ADMIN_TOKEN" in refused.json()["error"]
        assert "only read" in refused.json()["error"]
        assert (await reader.get(url)).status_code == 200  # cached now, at its version

        assert (await admin.delete(url)).status_code == 204

        assert (await reader.get(url)).status_code == 404  # not served from the cache
        again = await admin.delete(url)
        assert again.status_code == 404
        assert "deleted before" in again.json()["error"]
        unknown = await admin.delete(execution_path("nobody"))
        assert (unknown.status_code, unknown.json()["error"]) == (
            404,
            "execution 'nobody' not found",
        )
        listed = (await admin.get(EXECUTIONS_PATH)).json()["items"]
        assert [item["execution_id"] for item in listed] == ["e2"]
        stats = (await reader.get(STATS_PATH)).json()
        assert stats["executions_deleted"] == 1


async def test_deleting_is_off_without_an_admin_token(
    http: httpx.AsyncClient, redis_client: RedisClient, redis_keys: RedisKeys
) -> None:
    await seed(redis_client, redis_keys, "e1")

    refused = await http.delete(execution_path("e1"))

    assert refused.status_code == 403
    assert "deleting is off" in refused.json()["error"]
    assert (await http.get(execution_path("e1"))).status_code == 200


async def test_a_wrong_token_is_unauthorized_and_a_query_is_refused(admin_app: Starlette) -> None:
    async with api_client(admin_app, "not-the-token-at-all") as stranger:
        assert (await stranger.delete(execution_path("e1"))).status_code == 401
    async with api_client(admin_app, ADMIN_TOKEN) as admin:
        bad = await admin.delete(execution_path("e1") + "?force=1")
        assert bad.status_code == 400


async def test_the_async_query_library_deletes_with_the_admin_token(
    admin_app: Starlette, redis_client: RedisClient, redis_keys: RedisKeys
) -> None:
    await seed(redis_client, redis_keys, "e1")
    transport = httpx.ASGITransport(app=admin_app)
    admin = AsyncMetricsClient(
        ClientSettings(token=ADMIN_TOKEN, api_url="http://api"), transport=transport
    )
    reader = AsyncMetricsClient(
        ClientSettings(token=API_TOKEN, api_url="http://api"), transport=transport
    )
    async with admin, reader:
        with pytest.raises(ApiError, match="403") as refused:
            await reader.delete_execution("e1")
        assert refused.value.status == 403
        assert await admin.delete_execution("e1") is True
        assert await admin.delete_execution("e1") is False
        assert await reader.get_metrics(execution_id="e1") == []
        with pytest.raises(StoreQueryError):
            await admin.delete_execution("")
