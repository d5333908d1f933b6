"""The write model against a real redis-server and a real 3-master Redis Cluster."""

from __future__ import annotations

import asyncio
import math
import struct
import time

import pytest

from stepmetrics.processors.errors import RedisUnavailableError, WriteRejectedError
from stepmetrics.processors.writes.writer import MetricsWriter
from stepmetrics.producers.events import Envelope, WireEvent
from stepmetrics.store.connection import RedisClient
from stepmetrics.store.keys import RedisKeys
from stepmetrics.store.stats import ApplyCounts, read_stats
from tests.support.metrics_state import actual_state, expected_state, snapshot
from tests.support.redis_targets import BOTH_REDIS_MODES

pytestmark = BOTH_REDIS_MODES

T = 1_764_150_000_000_000


def env(
    seq: int, events: list[WireEvent], eid: str = "e1", pid: str = "p1", dep: str | None = None
) -> Envelope:
    return Envelope(pid, seq, eid, "train", dep, events)


async def test_replaying_a_batch_changes_nothing(
    redis_client: RedisClient, redis_keys: RedisKeys
) -> None:
    writer = MetricsWriter(redis_client, redis_keys)
    batch = [
        env(0, [("s", "acc", T, 0.5), ("l", "loss", T + 1, [1.0, 2.0])]),
        env(1, [("s", "acc", T + 9, 0.7), ("l", "loss", T + 10, [3.0])], dep="d"),
        env(0, [("s", "acc", T + 3, 0.1)], eid="e2", pid="p2"),
    ]
    first = await writer.apply(batch)
    assert first == ApplyCounts(3, 0, 5, 3, 0)
    before = await snapshot(redis_client, redis_keys.prefix)
    again = await MetricsWriter(redis_client, redis_keys).apply(batch)
    assert again == ApplyCounts(0, 3, 0, 0, 0)
    assert await snapshot(redis_client, redis_keys.prefix) == before
    stats = await read_stats(redis_client, redis_keys)
    assert (stats["envelopes_applied"], stats["duplicates_skipped"]) == (3, 3)
    assert stats["events_applied"] == 5


async def test_partly_replayed_batch_applies_only_the_new_envelopes(
    redis_client: RedisClient, redis_keys: RedisKeys
) -> None:
    writer = MetricsWriter(redis_client, redis_keys)
    envelopes = [env(i, [("s", "step", T + i, float(i)), ("l", "v", T + i, [i])]) for i in range(6)]
    await writer.apply(envelopes[:4])
    result = await writer.apply(envelopes[2:])
    assert (result.envelopes_applied, result.duplicates_skipped) == (2, 2)
    state = await actual_state(redis_client, redis_keys, ["e1"])
    assert state["e1"].lists == {"v": [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]}
    assert state["e1"].scalars == {"step": "5.0"}


async def test_late_older_scalar_never_overwrites_a_newer_one(
    redis_client: RedisClient, redis_keys: RedisKeys
) -> None:
    writer = MetricsWriter(redis_client, redis_keys)
    await writer.apply([env(5, [("s", "acc", T + 100, 0.9)])])
    # Older by timestamp (another producer) and older by seq at an equal timestamp.
    await writer.apply([env(0, [("s", "acc", T + 50, 0.1)], pid="p2")])
    await writer.apply([env(4, [("s", "acc", T + 100, 0.2)])])
    orders = await redis_client.hgetall(redis_keys.scalar_orders("e1"))
    assert await redis_client.hget(redis_keys.scalar_values("e1"), "acc") == b"0.9"
    assert orders == {b"acc": f"{T + 100} 5 0".encode()}
    # Newer within one batch: the later of two envelopes wins regardless of batch order.
    await writer.apply([env(7, [("s", "acc", T + 300, 0.3)]), env(6, [("s", "acc", T + 200, 0.4)])])
    assert await redis_client.hget(redis_keys.scalar_values("e1"), "acc") == b"0.3"


async def test_cap_is_exact_and_drops_are_counted(
    redis_client: RedisClient, redis_keys: RedisKeys
) -> None:
    writer = MetricsWriter(redis_client, redis_keys)
    chunk = [float(i) for i in range(20_000)]
    batch = [env(i, [("l", "curve", T + i, chunk)]) for i in range(2)]
    await writer.apply(batch)
    await writer.apply([env(2, [("l", "curve", T + 2, chunk)]), env(3, [("l", "curve", T, [1.0])])])
    stored = await redis_client.get(redis_keys.list_values("e1", "curve"))
    assert isinstance(stored, bytes)
    assert len(stored) == 50_000 * 8
    assert struct.unpack_from("<d", stored, 49_999 * 8)[0] == 9_999.0
    assert await redis_client.hget(redis_keys.list_dropped("e1"), "curve") == b"10001"
    assert await redis_client.hget(redis_keys.list_created("e1"), "curve") == str(T).encode()
    stats = await read_stats(redis_client, redis_keys)
    assert (stats["values_dropped_by_cap"], stats["list_values_appended"]) == (10_001, 50_000)


async def test_scalar_and_list_share_a_name_and_non_finite_values_survive(
    redis_client: RedisClient, redis_keys: RedisKeys
) -> None:
    writer = MetricsWriter(redis_client, redis_keys)
    events: list[WireEvent] = [
        ("s", "loss", T, math.nan),
        ("l", "loss", T + 1, [math.inf, -math.inf, math.nan, 0.1409]),
        ("s", "best", T + 2, math.inf),
        ("s", "worst", T + 3, -math.inf),
    ]
    await writer.apply([env(0, events)])
    state = (await actual_state(redis_client, redis_keys, ["e1"]))["e1"]
    assert state.scalars == {"loss": "nan", "best": "inf", "worst": "-inf"}
    values = state.lists["loss"]
    assert values[:2] == [math.inf, -math.inf]
    assert math.isnan(values[2])
    assert values[3] == 0.1409
    assert expected_state([env(0, events)])["e1"].scalars == state.scalars


async def test_meta_and_indexes_track_the_earliest_record_time(
    redis_client: RedisClient, redis_keys: RedisKeys
) -> None:
    writer = MetricsWriter(redis_client, redis_keys)
    await writer.apply([env(0, [("s", "acc", T + 10, 1.0)])])
    meta = await redis_client.hgetall(redis_keys.meta("e1"))
    first_version = int(meta.pop(b"version"))
    # A new execution's version starts at the Redis clock (µs), so one
    # re-created after a flush does not repeat versions a reader has seen.
    assert abs(first_version - time.time_ns() // 1000) < 60_000_000
    # The same stamp is its incarnation (the writer's index cache keys on it).
    assert int(meta.pop(b"incarnation")) == first_version - 1  # version: +1 envelope
    assert meta == {
        b"pipeline_name": b"train",
        b"created_us": str(T + 10).encode(),
        b"updated_us": str(T + 10).encode(),
    }
    # A new writer (no cache) sees a later batch with a new name, then a late older event.
    await MetricsWriter(redis_client, redis_keys).apply(
        [env(1, [("l", "curve", T + 20, [1.0])], dep="prod")]
    )
    assert await redis_client.zscore(redis_keys.list_name_index("curve"), "e1") == T + 10
    await writer.apply([env(0, [("s", "old", T + 1, 2.0)], pid="p2")])
    meta = await redis_client.hgetall(redis_keys.meta("e1"))
    assert (meta[b"created_us"], meta[b"updated_us"]) == (str(T + 1).encode(), str(T + 20).encode())
    assert int(meta[b"version"]) == first_version + 2  # one per applied envelope
    assert meta[b"deployment_name"] == b"prod"
    for key in (
        redis_keys.executions,
        redis_keys.pipeline_index("train"),
        redis_keys.deployment_index("prod"),
        redis_keys.scalar_name_index("acc"),
        redis_keys.scalar_name_index("old"),
        redis_keys.list_name_index("curve"),
    ):
        assert await redis_client.zrange(key, 0, -1, withscores=True) == [(b"e1", float(T + 1))]


async def test_apply_survives_an_emptied_script_cache(
    redis_client: RedisClient, redis_keys: RedisKeys
) -> None:
    writer = MetricsWriter(redis_client, redis_keys)
    await writer.apply([env(0, [("s", "a", T, 1.0)])])
    await redis_client.script_flush()
    result = await writer.apply([env(1, [("s", "a", T + 1, 2.0)])])
    assert result.envelopes_applied == 1
    assert await redis_client.hget(redis_keys.scalar_values("e1"), "a") == b"2.0"
    assert (await read_stats(redis_client, redis_keys))["envelopes_applied"] == 2


async def test_script_flushes_during_batches_lose_and_double_nothing(
    redis_client: RedisClient, redis_keys: RedisKeys
) -> None:
    writer = MetricsWriter(redis_client, redis_keys)
    executions = [f"e{i}" for i in range(4)]
    every = [
        env(seq, [("s", "a", T + seq, float(seq)), ("l", "v", T + seq, [seq])], eid, f"p-{eid}")
        for seq in range(40)
        for eid in executions
    ]
    batches = [every[i : i + 8] for i in range(0, len(every), 8)]
    stop = asyncio.Event()

    async def flush_scripts() -> None:
        while not stop.is_set():
            await redis_client.script_flush()
            await asyncio.sleep(0)

    flusher = asyncio.create_task(flush_scripts())
    try:
        for batch in batches:
            while True:  # what the worker's handler does with a retriable error
                try:
                    await writer.apply(batch)
                    break
                except RedisUnavailableError:  # flushed between SCRIPT EXISTS and EVALSHA
                    continue
    finally:
        stop.set()
        await flusher
    assert await actual_state(redis_client, redis_keys, executions) == expected_state(every)
    counters = await read_stats(redis_client, redis_keys)
    assert counters["envelopes_applied"] == len(every)
    assert counters["events_applied"] == 2 * len(every)


async def test_a_foreign_key_type_fails_the_call_before_any_write(
    redis_client: RedisClient, redis_keys: RedisKeys
) -> None:
    writer = MetricsWriter(redis_client, redis_keys)
    await redis_client.hset(redis_keys.list_values("e1", "curve"), "f", "v")  # not a string
    await redis_client.set(redis_keys.scalar_values("e2"), b"oops")  # not a hash
    for eid in ("e1", "e2"):
        batch = [env(0, [("s", "a", T, 1.0), ("l", "curve", T, [1.0])], eid=eid)]
        with pytest.raises(WriteRejectedError, match="WRONGTYPE"):
            await writer.apply(batch)
        assert await redis_client.exists(redis_keys.applied(eid), redis_keys.meta(eid)) == 0
    assert await redis_client.hgetall(redis_keys.list_values("e1", "curve")) == {b"f": b"v"}


async def test_a_rejected_batch_still_counts_what_other_executions_applied(
    redis_client: RedisClient, redis_keys: RedisKeys
) -> None:
    writer = MetricsWriter(redis_client, redis_keys)
    await redis_client.set(redis_keys.scalar_values("broken"), b"oops")  # not a hash
    batch = [env(0, [("s", "a", T, 1.0)], eid="ok"), env(1, [("s", "a", T, 1.0)], eid="broken")]
    with pytest.raises(WriteRejectedError, match="WRONGTYPE"):
        await writer.apply(batch)
    assert await redis_client.hget(redis_keys.scalar_values("ok"), "a") == b"1.0"
    counters = await read_stats(redis_client, redis_keys)
    assert (counters["envelopes_applied"], counters["events_applied"]) == (1, 1)
    # Retrying the good part is a replay: counted as a duplicate, nothing else.
    assert (await writer.apply(batch[:1])).duplicates_skipped == 1
    counters = await read_stats(redis_client, redis_keys)
    assert (counters["envelopes_applied"], counters["duplicates_skipped"]) == (1, 1)
