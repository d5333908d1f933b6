"""Large metric pages walk the index in growing batches and read few executions past their end.

A page of 10,000 rows of 20-scalar executions spans 500 executions: the walk
takes 4 `ZRANGEBYSCORE` round trips (64, 128, 256, 512 positions), not 8 of
64, and the scalars are read in chunks sized from the rows seen so far, so
about one execution beyond the page's end is read. Paging with any limit
still returns every row once, in order.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from redis.asyncio.cluster import RedisCluster

from stepmetrics.store.connection import RedisClient
from stepmetrics.store.keys import RedisKeys
from tests.support.redis_targets import BOTH_REDIS_MODES
from tests.support.seed import seed_execution

pytestmark = BOTH_REDIS_MODES

T0 = 1_764_000_000_000_000
EXECUTIONS = 600
NAMES = [f"m{j:02d}" for j in range(20)]


@pytest.fixture
async def wide(redis_client: RedisClient, redis_keys: RedisKeys) -> list[tuple[str, str]]:
    """600 executions of one pipeline, 20 scalars each; their (execution, name) rows in order."""
    for i in range(EXECUTIONS):
        await seed_execution(
            redis_client, redis_keys, f"w-{i:04d}", pipeline_name="wide",
            deployment_name=f"wide-d{i % 2}", created_us=T0 + i * 1000,
            scalars={name: float(i * 100 + j) for j, name in enumerate(NAMES)},
        )  # fmt: skip
    return [(f"w-{i:04d}", name) for i in range(EXECUTIONS) for name in NAMES]


async def _calls(redis: RedisClient, command: str) -> int:
    name = f"cmdstat_{command}"
    if isinstance(redis, RedisCluster):
        per_node = await redis.info("commandstats", target_nodes=RedisCluster.ALL_NODES)
        return sum(int(node.get(name, {}).get("calls", 0)) for node in per_node.values())
    stats = await redis.info("commandstats")
    return int(stats.get(name, {}).get("calls", 0))


def _rows(items: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(item["execution_id"], item["name"]) for item in items]


async def test_a_10000_row_page_takes_few_round_trips(
    http: httpx.AsyncClient, redis_client: RedisClient, wide: list[tuple[str, str]]
) -> None:
    walks, metas = await _calls(redis_client, "zrangebyscore"), await _calls(redis_client, "hmget")
    page = (await http.get("/api/v1/metrics?pipeline_name=wide&limit=10000")).json()
    assert _rows(page["items"]) == wide[:10_000]
    assert page["items"][0]["value"] == 0.0
    assert page["items"][-1]["value"] == 499 * 100 + 19.0
    assert page["next_cursor"] is not None
    assert await _calls(redis_client, "zrangebyscore") - walks == 4  # 64 + 128 + 256 + 512
    read = await _calls(redis_client, "hmget") - metas  # one HMGET of meta per execution read
    assert 500 <= read <= 502, read


@pytest.mark.parametrize(
    ("flt", "limit"),
    [("pipeline_name=wide", 10_000), ("pipeline_name=wide", 7), ("deployment_name=wide-d1", 999)],
)
async def test_paging_in_growing_batches_returns_every_row_once(
    http: httpx.AsyncClient, wide: list[tuple[str, str]], flt: str, limit: int
) -> None:
    expected = wide if "pipeline" in flt else [r for r in wide if int(r[0][2:]) % 2 == 1]
    got: list[tuple[str, str]] = []
    cursor = None
    for _ in range(2000):
        query = f"/api/v1/metrics?{flt}&limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        page = (await http.get(query)).json()
        assert len(page["items"]) <= limit
        got.extend(_rows(page["items"]))
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert got == expected


async def test_a_name_page_reads_its_executions_in_few_round_trips(
    http: httpx.AsyncClient, redis_client: RedisClient, wide: list[tuple[str, str]]
) -> None:
    walks = await _calls(redis_client, "zrangebyscore")
    page = (await http.get("/api/v1/metrics?name=m07&limit=1000")).json()
    assert _rows(page["items"]) == [(f"w-{i:04d}", "m07") for i in range(EXECUTIONS)]
    assert page["next_cursor"] is None
    assert await _calls(redis_client, "zrangebyscore") - walks == 4  # 64+128+256+512 >= 600
