"""The writer's index cache against real Redis (single server and cluster).

Every scenario runs the same batches twice, each on its own key prefix: once
through writers with the cache (`P:idx:updated` in steps of 0 s, so its scores
compare too) and once through a writer without one (`max_executions=0`: every
index write sent, the behaviour before the cache). The indexes must end up
exactly the same, member by member and score by score.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import cast

from redis.asyncio.cluster import RedisCluster

from stepmetrics.processors.writes.indexcache import IndexCache
from stepmetrics.processors.writes.writer import MetricsWriter
from stepmetrics.producers.events import Envelope, WireEvent
from stepmetrics.store.connection import RedisClient
from stepmetrics.store.keys import RedisKeys
from stepmetrics.store.lifecycle.deletion import Deleter
from tests.support.redis_targets import BOTH_REDIS_MODES

pytestmark = BOTH_REDIS_MODES

T = 1_764_150_000_000_000
DAY = 86_400
Step = Callable[[RedisKeys, list[MetricsWriter]], Awaitable[None]]


def env(seq: int, events: list[WireEvent], eid: str = "e1", pid: str = "p1") -> Envelope:
    return Envelope(pid, seq, eid, "train", "dep", events)


def tick(seq: int, eid: str = "e1", pid: str = "p1", name: str = "loss") -> Envelope:
    return env(seq, [("s", name, T + seq, float(seq)), ("l", "t", T + seq, [float(seq)])], eid, pid)


async def indexes(client: RedisClient, keys: RedisKeys) -> dict[str, list[tuple[bytes, float]]]:
    """Every index of `keys.prefix`, by key without the prefix."""
    found: dict[str, list[tuple[bytes, float]]] = {}
    async for key in client.scan_iter(match=f"{keys.prefix}:idx:*", count=1000):
        name = key.decode()
        members = await client.zrange(name, 0, -1, withscores=True)
        found[name.removeprefix(keys.prefix)] = cast("list[tuple[bytes, float]]", members)
    return {name: members for name, members in sorted(found.items()) if members}


async def wipe(client: RedisClient, keys: RedisKeys) -> None:
    """What a FLUSHALL (or a restart without persistence) does to this prefix."""
    async for key in client.scan_iter(match=f"{keys.prefix}:*", count=1000):
        await client.unlink(key)


def batch(*envelopes: Envelope, writer: int = 0) -> Step:
    async def step(_: RedisKeys, writers: list[MetricsWriter]) -> None:
        await writers[min(writer, len(writers) - 1)].apply(list(envelopes))

    return step


async def same_as_without_cache(
    client: RedisClient, keys: RedisKeys, steps: Sequence[Step], *, writers: int = 1
) -> list[MetricsWriter]:
    """Run `steps` with cached writers and with one uncached; their indexes must match
    after every step. Returns the cached writers."""
    plain = RedisKeys(f"{keys.prefix}-plain")
    cached = [
        MetricsWriter(client, keys, index_cache=IndexCache(updated_step_us=0))
        for _ in range(writers)
    ]
    uncached = [MetricsWriter(client, plain, index_cache=IndexCache(max_executions=0))]
    for i, step in enumerate(steps):
        await step(keys, cached)
        await step(plain, uncached)
        got, want = await indexes(client, keys), await indexes(client, plain)
        assert got == want, f"after step {i}"
    return cached


async def test_many_batches_a_new_name_and_an_older_event(
    redis_client: RedisClient, redis_keys: RedisKeys
) -> None:
    steps = [batch(tick(i, "e1"), tick(i, "e2")) for i in range(4)]
    steps.append(batch(tick(4, "e1", name="acc"), tick(4, "e2")))  # a new name
    steps.append(batch(env(0, [("s", "lr", T - 50, 0.1)], "e1", pid="p2")))  # lowers created_us
    steps += [batch(tick(i, "e1"), tick(i, "e2")) for i in range(5, 8)]
    [writer] = await same_as_without_cache(redis_client, redis_keys, steps)
    assert (await indexes(redis_client, redis_keys))[":idx:executions"] == [
        (b"e1", T - 50),
        (b"e2", T),
    ]
    # First batch: 2 x (executions, pipeline, deployment, loss, t, updated);
    # then only `updated` (step 0 here), the new name, and e1 whole when its
    # created_us went down (7 keys and `updated`).
    assert writer.index_cache.size == 2
    assert writer.index_writes == 12 + 3 * 2 + (1 + 2) + 8 + 3 * 2


async def test_a_delete_a_late_envelope_and_a_recreation(
    redis_client: RedisClient, redis_keys: RedisKeys
) -> None:
    async def delete(keys: RedisKeys, _: list[MetricsWriter]) -> None:
        assert (await Deleter.create(redis_client, keys, DAY).delete("e1")).status == "deleted"

    async def tombstone_expires(keys: RedisKeys, _: list[MetricsWriter]) -> None:
        await redis_client.unlink(keys.tombstone("e1"))

    steps = [batch(tick(i), tick(i, "e2")) for i in range(3)]
    steps += [delete, batch(tick(3), tick(3, "e2")), tombstone_expires]
    # The same envelopes again: the same created_us, but a new incarnation.
    steps += [batch(tick(0), tick(4, "e2")), batch(tick(1))]
    await same_as_without_cache(redis_client, redis_keys, steps)
    assert b"e1" in dict((await indexes(redis_client, redis_keys))[":idx:scalar:loss"])


async def test_redis_losing_its_data_mid_stream(
    redis_client: RedisClient, redis_keys: RedisKeys
) -> None:
    async def flush(keys: RedisKeys, _: list[MetricsWriter]) -> None:
        await wipe(redis_client, keys)

    steps = [batch(tick(i), tick(i, "e2")) for i in range(3)]
    # Replayed from the start (the dedup state is gone too): the same created_us.
    steps += [flush, batch(tick(0), tick(3, "e2")), batch(tick(4))]
    await same_as_without_cache(redis_client, redis_keys, steps)
    assert len((await indexes(redis_client, redis_keys))[":idx:executions"]) == 2


async def test_two_writers_on_one_execution(
    redis_client: RedisClient, redis_keys: RedisKeys
) -> None:
    async def delete_and_expire(keys: RedisKeys, _: list[MetricsWriter]) -> None:
        await Deleter.create(redis_client, keys, DAY).delete("e1")
        await redis_client.unlink(keys.tombstone("e1"))

    steps = [
        batch(tick(0), writer=0),
        batch(env(0, [("s", "lr", T - 9, 0.1)], pid="p2"), writer=1),  # B lowers created_us
        batch(tick(1), writer=0),  # A sees the new created_us
        batch(tick(2, name="acc"), writer=1),  # B adds a name
        delete_and_expire,
        # B recreates e1 with the same created_us (T - 9) and other names ...
        batch(env(1, [("s", "lr", T - 9, 0.2)], pid="p2"), writer=1),
        # ... then A's names must be indexed again, although A's cached created_us matches.
        batch(tick(3), tick(4, name="acc"), writer=0),
    ]
    await same_as_without_cache(redis_client, redis_keys, steps, writers=2)
    got = await indexes(redis_client, redis_keys)
    assert got[":idx:scalar:loss"] == [(b"e1", T - 9)]
    assert got[":idx:scalar:acc"] == [(b"e1", T - 9)]


async def _zadds(redis: RedisClient) -> int:
    if isinstance(redis, RedisCluster):
        per_node = await redis.info("commandstats", target_nodes=RedisCluster.ALL_NODES)
        return sum(int(node.get("cmdstat_zadd", {}).get("calls", 0)) for node in per_node.values())
    return int((await redis.info("commandstats")).get("cmdstat_zadd", {}).get("calls", 0))


async def test_repeated_batches_send_no_index_commands(
    redis_client: RedisClient, redis_keys: RedisKeys
) -> None:
    executions = [f"e{i:02d}" for i in range(50)]
    counts: dict[str, list[int]] = {}
    caches = {
        "plain": IndexCache(max_executions=0),
        "cached": IndexCache(),
        "coarse": IndexCache(updated_step_us=60_000_000),
    }
    for mode, cache in caches.items():
        keys = RedisKeys(f"{redis_keys.prefix}-{mode}")
        writer = MetricsWriter(redis_client, keys, index_cache=cache)
        counts[mode] = []
        for seq in range(6):
            before = await _zadds(redis_client)
            await writer.apply([tick(seq, eid) for eid in executions])
            counts[mode].append(await _zadds(redis_client) - before)
        # A minute later: `P:idx:updated` moves past the coarse step too.
        late = [env(6, [("s", "loss", T + 61_000_000, 1.0)], eid) for eid in executions]
        before = await _zadds(redis_client)
        await writer.apply(late)
        counts[mode].append(await _zadds(redis_client) - before)
    # executions, pipeline, deployment, loss, t and updated, for 50 executions.
    assert counts["plain"] == [300] * 6 + [250]
    assert counts["cached"] == [300] + [50] * 6  # only `updated`, which moved
    assert counts["coarse"] == [300, 0, 0, 0, 0, 0, 50]
    plain = await indexes(redis_client, RedisKeys(f"{redis_keys.prefix}-plain"))
    for mode in ("cached", "coarse"):
        assert await indexes(redis_client, RedisKeys(f"{redis_keys.prefix}-{mode}")) == plain
