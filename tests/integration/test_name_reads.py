"""Name queries: the one-round-trip script (one server) against the pipelined
reads (the cluster's path, and the fallback when the ACL refuses the script)."""

from __future__ import annotations

import logging
import secrets
from typing import Any

import pytest
from redis.asyncio.cluster import RedisCluster

from stepmetrics.store.connection import RedisClient
from stepmetrics.store.index import BATCH
from stepmetrics.store.keys import RedisKeys, around_tag, hash_tag
from stepmetrics.store.list_pages import list_page
from stepmetrics.store.name_reads import NAME_BATCH_SHA, NameScript
from stepmetrics.store.page_reads import scalar_page
from stepmetrics.store.reader import READER_ACL_COMMANDS, MetricsReader
from stepmetrics.store.wire import Cursor
from tests.support.redis_targets import BOTH_REDIS_MODES, RedisTarget
from tests.support.seed import seed_execution

T0 = 1_764_000_000_000_000
# Ids with what the hash tag escapes, and ids that look like key parts.
ODD_IDS = ["%7D é {x}", "a}b", "{", "%", "run 1/é", "x}:meta"]


async def _seed(redis: RedisClient, keys: RedisKeys) -> list[str]:
    """More executions than one index batch, many sharing a score (ties page
    by id); every other one has the metric `acc`, the rest only `other`."""
    ids = [f"e-{i:03d}" for i in range(BATCH + 40)] + ODD_IDS
    for i, eid in enumerate(ids):
        scalars: dict[str, Any] = {"other": 1.0}
        lists: dict[str, list[float]] = {"other_list": [1.0]}
        if i % 2 == 0:
            scalars["acc"] = (float(i), T0 + 10 + i)
            lists["acc"] = [float(i)] * (1 + i % 5)
        await seed_execution(
            redis, keys, eid, pipeline_name=f"p{i % 3}", deployment_name=f"d{i}",
            created_us=T0 + i // 7, scalars=scalars, lists=lists,
        )  # fmt: skip
    return ids


async def _all_pages(
    redis: RedisClient, keys: RedisKeys, name: str, limit: int, script: NameScript | None
) -> list[Any]:
    items: list[Any] = []
    cursor: Cursor | None = None
    for _ in range(1000):
        page, cursor = await scalar_page(redis, keys, ("name", name), limit, cursor, script)
        items.extend(page)
        if cursor is None:
            return items
    raise AssertionError("paging did not end")


@BOTH_REDIS_MODES
async def test_name_pages_match_the_pipelined_reads(
    redis_client: RedisClient, redis_keys: RedisKeys
) -> None:
    ids = await _seed(redis_client, redis_keys)
    # An index entry of an execution with no data any more (deleted meanwhile).
    await redis_client.zadd(redis_keys.scalar_name_index("acc"), {"gone": T0 + 3})
    script = NameScript(redis_client)
    pipelined = await _all_pages(redis_client, redis_keys, "acc", 10_000, None)
    expected = [eid for i, eid in enumerate(ids) if i % 2 == 0]
    assert sorted(m["execution_id"] for m in pipelined) == sorted(expected)
    assert [m["execution_id"] for m in pipelined] == sorted(
        expected, key=lambda e: (T0 + ids.index(e) // 7, e)
    )
    odd = next(m for m in pipelined if m["execution_id"] == "%7D é {x}")
    assert odd["pipeline_name"] == f"p{ids.index('%7D é {x}') % 3}"
    assert odd["value"] == float(ids.index("%7D é {x}"))
    for limit in (1, 3, BATCH, 10_000):
        assert await _all_pages(redis_client, redis_keys, "acc", limit, script) == pipelined
    assert await _all_pages(redis_client, redis_keys, "missing", 5, script) == []
    # One server runs the script; a cluster never does (its keys span nodes).
    assert script.usable is not isinstance(redis_client, RedisCluster)


async def _all_list_pages(
    redis: RedisClient, keys: RedisKeys, limit: int, max_values: int, script: NameScript | None
) -> list[Any]:
    items: list[Any] = []
    cursor: Cursor | None = None
    for _ in range(1000):
        page, cursor = await list_page(
            redis, keys, ("name", "acc"), limit, cursor, max_values, script
        )
        items.extend(page)
        if cursor is None:
            return items
    raise AssertionError("paging did not end")


@BOTH_REDIS_MODES
async def test_list_name_pages_match_the_pipelined_reads(
    redis_client: RedisClient, redis_keys: RedisKeys
) -> None:
    ids = await _seed(redis_client, redis_keys)
    await redis_client.zadd(redis_keys.list_name_index("acc"), {"gone": T0 + 3})
    script = NameScript(redis_client)
    pipelined = await _all_list_pages(redis_client, redis_keys, 1000, 1_000_000, None)
    assert {m["execution_id"]: m["value"] for m in pipelined} == {
        eid: [float(i)] * (1 + i % 5) for i, eid in enumerate(ids) if i % 2 == 0
    }
    # Page by count and by the value budget (lengths come from the script's STRLEN).
    for limit, budget in ((1, 1_000_000), (3, 1_000_000), (1000, 4), (BATCH, 1)):
        got = await _all_list_pages(redis_client, redis_keys, limit, budget, script)
        assert got == pipelined


async def test_the_script_builds_the_keys_that_keys_py_builds(
    redis_client: RedisClient, redis_keys: RedisKeys
) -> None:
    # around_tag + hash_tag is what the script joins; it must be the key itself.
    for eid in ODD_IDS:
        before, after = around_tag(redis_keys.meta)
        assert before + hash_tag(eid) + after == redis_keys.meta(eid)
        before, after = around_tag(lambda e: redis_keys.list_values(e, "l:x}"))
        assert before + hash_tag(eid) + after == redis_keys.list_values(eid, "l:x}")
    # And the Lua escaping reads each odd id's own keys (values differ per id).
    for i, eid in enumerate(ODD_IDS):
        await seed_execution(
            redis_client, redis_keys, eid, pipeline_name="p", created_us=T0,
            scalars={"m": float(i)},
        )  # fmt: skip
    items, cursor = await scalar_page(
        redis_client, redis_keys, ("name", "m"), 100, None, NameScript(redis_client)
    )
    assert cursor is None
    assert {m["execution_id"]: m["value"] for m in items} == {
        eid: float(i) for i, eid in enumerate(ODD_IDS)
    }


async def test_a_flushed_script_cache_is_reloaded(
    redis_client: RedisClient, redis_keys: RedisKeys
) -> None:
    await _seed(redis_client, redis_keys)
    script = NameScript(redis_client)
    before = await _all_pages(redis_client, redis_keys, "acc", 7, script)
    await redis_client.script_flush()
    assert await redis_client.script_exists(NAME_BATCH_SHA) == [False]
    assert await _all_pages(redis_client, redis_keys, "acc", 7, script) == before
    # Loaded again by the reads themselves: the script path did serve them.
    assert await redis_client.script_exists(NAME_BATCH_SHA) == [True]
    assert script.usable


async def test_a_reader_refused_the_script_falls_back_once(
    redis_target: RedisTarget,
    redis_client: RedisClient,
    redis_keys: RedisKeys,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await _seed(redis_client, redis_keys)
    expected = await _all_pages(redis_client, redis_keys, "acc", 10_000, None)
    user, password = f"reader-{secrets.token_hex(4)}", secrets.token_urlsafe(12)
    rules = ["on", f">{password}", "resetkeys", f"~{redis_keys.prefix}:*", *READER_ACL_COMMANDS]
    await redis_client.acl_setuser(user, reset=True)
    await redis_client.execute_command("ACL", "SETUSER", user, *rules)
    host_port = redis_target.url.removeprefix("redis://")
    reader_redis = RedisTarget(f"redis://{user}:{password}@{host_port}", cluster=False).client()
    try:
        reader = MetricsReader(reader_redis, redis_keys)
        with caplog.at_level(logging.WARNING, logger="stepmetrics.store.name_reads"):
            first, _ = await reader.scalar_metrics(("name", "acc"), 10_000)
            second, _ = await reader.scalar_metrics(("name", "acc"), 10_000)
        assert first == second == expected
        refusals = [r for r in caplog.records if "refused the read-only script" in r.message]
        assert len(refusals) == 1
    finally:
        await reader_redis.aclose()
        await redis_client.acl_deluser(user)
