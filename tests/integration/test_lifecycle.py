"""Deleting executions (stepmetrics.store.lifecycle) against a real redis-server
and a real 3-master Redis Cluster: the keys, the tombstone, the indexes, the
write model's respect of the tombstone, and the readers."""

from __future__ import annotations

from typing import cast

from stepmetrics.processors.writes.writer import MetricsWriter
from stepmetrics.producers.events import Envelope, WireEvent
from stepmetrics.store.connection import RedisClient
from stepmetrics.store.keys import RedisKeys
from stepmetrics.store.lifecycle import Deleter
from stepmetrics.store.reader import MetricsReader
from stepmetrics.store.stats import ApplyCounts, read_stats
from tests.support.metrics_state import snapshot
from tests.support.redis_targets import BOTH_REDIS_MODES

pytestmark = BOTH_REDIS_MODES

T = 1_764_150_000_000_000
DAY = 86_400


def env(seq: int, events: list[WireEvent], eid: str, pid: str = "p1") -> Envelope:
    return Envelope(pid, seq, eid, "train", "dep", events)


def events(i: int) -> list[WireEvent]:
    return [("s", "acc", T + i, 0.5), ("s", "lr", T + i, 0.1), ("l", "loss", T + i, [1.0, 2.0])]


async def index_members(client: RedisClient, keys: RedisKeys) -> dict[str, set[str]]:
    """Every index key of the prefix -> its members (test-side, by SCAN)."""
    found: dict[str, set[str]] = {}
    index_keys = [
        keys.executions,
        keys.updated,
        keys.pipeline_index("train"),
        keys.deployment_index("dep"),
        keys.scalar_name_index("acc"),
        keys.scalar_name_index("lr"),
        keys.list_name_index("loss"),
    ]
    for key in index_keys:
        members = cast("list[bytes]", await client.zrange(key, 0, -1))
        found[key] = {m.decode() for m in members}
    return found


async def execution_keys(client: RedisClient, keys: RedisKeys, eid: str) -> dict[bytes, object]:
    state = await snapshot(client, keys.prefix)
    tag = keys.meta(eid).removesuffix("meta").encode()
    return {k: v for k, v in state.items() if k.startswith(tag)}


async def test_delete_removes_every_key_and_index_entry_and_leaves_a_tombstone(
    redis_client: RedisClient, redis_keys: RedisKeys
) -> None:
    writer = MetricsWriter(redis_client, redis_keys)
    await writer.apply([env(0, events(0), "e1"), env(0, events(5), "e2", pid="p2")])
    await writer.apply([env(1, [("l", "only-dropped", T + 9, [3.0])], "e1")])
    other = await execution_keys(redis_client, redis_keys, "e2")
    deleter = Deleter.create(redis_client, redis_keys, tombstone_seconds=30 * DAY)

    reply = await deleter.delete("e1")

    assert reply.status == "deleted"
    assert (reply.pipeline_name, reply.deployment_name) == ("train", "dep")
    assert sorted(reply.scalar_names) == ["acc", "lr"]
    assert sorted(reply.list_names) == ["loss", "only-dropped"]
    left = await execution_keys(redis_client, redis_keys, "e1")
    assert list(left) == [redis_keys.tombstone("e1").encode()]
    assert 29 * DAY < await redis_client.ttl(redis_keys.tombstone("e1")) <= 30 * DAY
    assert all(
        members == {"e2"} for members in (await index_members(redis_client, redis_keys)).values()
    )
    assert await execution_keys(redis_client, redis_keys, "e2") == other
    reader = MetricsReader(redis_client, redis_keys)
    assert await reader.execution("e1") is None
    page, _ = await reader.executions(None, None, 10)
    assert [item["execution_id"] for item in page] == ["e2"]


async def test_a_late_envelope_of_a_deleted_execution_is_counted_not_applied(
    redis_client: RedisClient, redis_keys: RedisKeys
) -> None:
    writer = MetricsWriter(redis_client, redis_keys)
    await writer.apply([env(0, events(0), "e1")])
    await Deleter.create(redis_client, redis_keys, DAY).delete("e1")
    before = await snapshot(redis_client, redis_keys.prefix)

    late = await writer.apply([env(1, events(1), "e1"), env(0, events(0), "e1")])

    assert late == ApplyCounts(envelopes_skipped_deleted=2)
    after = await snapshot(redis_client, redis_keys.prefix)
    stats_key = redis_keys.stats.encode()
    assert {k: v for k, v in after.items() if k != stats_key} == {
        k: v for k, v in before.items() if k != stats_key
    }
    assert (await read_stats(redis_client, redis_keys))["envelopes_skipped_deleted"] == 2


async def test_a_repeated_delete_finishes_the_index_cleanup(
    redis_client: RedisClient, redis_keys: RedisKeys
) -> None:
    writer = MetricsWriter(redis_client, redis_keys)
    await writer.apply([env(0, events(0), "e1")])
    deleter = Deleter.create(redis_client, redis_keys, DAY)
    await deleter.delete("e1")
    # As if the cleanup had been cut short (or a writer's index write raced it).
    await redis_client.zadd(redis_keys.scalar_name_index("lr"), {"e1": T})
    await redis_client.zadd(redis_keys.executions, {"e1": T})

    again = await deleter.delete("e1")

    assert again.status == "tombstoned"
    assert sorted(again.scalar_names) == ["acc", "lr"]
    assert again.list_names == ("loss",)
    assert all(not members for members in (await index_members(redis_client, redis_keys)).values())


async def test_unknown_and_fresh_executions_are_left_alone(
    redis_client: RedisClient, redis_keys: RedisKeys
) -> None:
    writer = MetricsWriter(redis_client, redis_keys)
    await writer.apply([env(0, events(0), "e1")])
    deleter = Deleter.create(redis_client, redis_keys, DAY)
    before = await snapshot(redis_client, redis_keys.prefix)

    assert (await deleter.delete("nobody")).status == "unknown"
    assert (await deleter.delete("e1", older_than_us=T)).status == "fresh"

    assert await snapshot(redis_client, redis_keys.prefix) == before
    assert (await deleter.delete("e1", older_than_us=T + 1)).status == "deleted"


async def test_the_updated_index_only_moves_forward(
    redis_client: RedisClient, redis_keys: RedisKeys
) -> None:
    writer = MetricsWriter(redis_client, redis_keys)
    await writer.apply([env(1, events(100), "e1")])
    await writer.apply([env(0, events(3), "e1")])  # older, late
    assert await redis_client.zscore(redis_keys.updated, "e1") == T + 100
    assert await redis_client.zscore(redis_keys.executions, "e1") == T + 3
