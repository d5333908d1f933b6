"""Retention (stepmetrics.processors.retention) against a real redis-server and
a real 3-master Redis Cluster, without Faust: old executions are deleted in
rounds and counted, fresh ones are kept, the index by last update is
backfilled for data written before it existed."""

from __future__ import annotations

import time

from stepmetrics.processors.retention import US_PER_DAY, RetentionSweeper
from stepmetrics.processors.writes.writer import MetricsWriter
from stepmetrics.producers.events import Envelope
from stepmetrics.store.connection import RedisClient
from stepmetrics.store.keys import RedisKeys
from stepmetrics.store.lifecycle import Deleter
from stepmetrics.store.stats import read_stats
from tests.support.redis_targets import BOTH_REDIS_MODES

pytestmark = BOTH_REDIS_MODES

NOW = time.time_ns() // 1000
OLD = NOW - 3 * US_PER_DAY


def env(eid: str, ts: int, seq: int = 0) -> Envelope:
    return Envelope("p1", seq, eid, "train", None, [("s", "acc", ts, 1.0), ("l", "c", ts, [1.0])])


def sweeper(client: RedisClient, keys: RedisKeys, days: float = 1.0) -> RetentionSweeper:
    return RetentionSweeper(
        Deleter.create(client, keys, 3600), days, batch=100, pause=0.0, clock=lambda: NOW
    )


async def test_old_executions_are_deleted_in_rounds_fresh_ones_kept(
    redis_client: RedisClient, redis_keys: RedisKeys
) -> None:
    writer = MetricsWriter(redis_client, redis_keys)
    await writer.apply([env(f"old-{i}", OLD + i) for i in range(230)])
    await writer.apply([env("fresh", NOW - US_PER_DAY // 2)])
    # Created long ago, but updated recently: its last update counts.
    await writer.apply([env("revived", OLD), env("revived", NOW, seq=1)])
    retention = sweeper(redis_client, redis_keys)

    deleted = await retention.run_once()

    assert deleted == 230
    assert retention.rounds == 3  # 100 + 100 + 30
    remaining = await redis_client.zrange(redis_keys.executions, 0, -1)
    assert sorted(remaining) == [b"fresh", b"revived"]
    assert await redis_client.exists(redis_keys.meta("old-7")) == 0
    assert await redis_client.exists(redis_keys.tombstone("old-7")) == 1
    assert (await read_stats(redis_client, redis_keys))["executions_expired"] == 230
    # A second worker sweeping the same data deletes and counts nothing more.
    assert await sweeper(redis_client, redis_keys).sweep() == 0
    assert (await read_stats(redis_client, redis_keys))["executions_expired"] == 230


async def test_an_index_lagging_a_write_does_not_delete_the_execution(
    redis_client: RedisClient, redis_keys: RedisKeys
) -> None:
    writer = MetricsWriter(redis_client, redis_keys)
    await writer.apply([env("busy", NOW)])
    # As if the sweep read the index before the writer's ZADD GT of a new write.
    await redis_client.zadd(redis_keys.updated, {"busy": OLD})

    assert await sweeper(redis_client, redis_keys).sweep() == 0

    assert await redis_client.exists(redis_keys.meta("busy")) == 1


async def test_backfill_indexes_executions_written_before_the_updated_index(
    redis_client: RedisClient, redis_keys: RedisKeys
) -> None:
    writer = MetricsWriter(redis_client, redis_keys)
    await writer.apply([env("old", OLD), env("fresh", NOW)])
    await redis_client.delete(redis_keys.updated)  # data of an older version
    await redis_client.zadd(redis_keys.executions, {"ghost": OLD})  # deleted, entry left
    retention = sweeper(redis_client, redis_keys)

    assert await retention.backfill() == 3
    assert await redis_client.zscore(redis_keys.updated, "fresh") == NOW
    assert await retention.backfill() == 0  # both indexes hold every execution now
    assert await retention.sweep() == 1

    remaining = await redis_client.zrange(redis_keys.executions, 0, -1)
    assert remaining == [b"fresh"]  # the ghost's entries are cleaned up, not counted
    assert (await read_stats(redis_client, redis_keys))["executions_expired"] == 1
