"""The exactly-once state on a real redis-server: its size, its window, its
bounds (refused envelopes are dead-lettered) and the migration of old data."""

from __future__ import annotations

from functools import partial

import redis.asyncio as aioredis

from stepmetrics.processors.deadletter import DeadLetter, RawMessage
from stepmetrics.processors.handler import BatchHandler
from stepmetrics.processors.writes.limits import WriteLimits
from stepmetrics.processors.writes.writer import MetricsWriter
from stepmetrics.producers.events import SEQ_WINDOW, Envelope, encode_envelope
from stepmetrics.store.keys import RedisKeys
from stepmetrics.store.stats import ApplyCounts, add_to_counter, read_stats
from tests.support.metrics_state import actual_state

T = 1_764_150_000_000_000


def env(seq: int, value: float, pid: str = "p1", eid: str = "e1") -> Envelope:
    return Envelope(pid, seq, eid, "train", None, [("l", "v", T + seq, [value])])


async def stored(client: aioredis.Redis, keys: RedisKeys, eid: str = "e1") -> list[float]:
    return (await actual_state(client, keys, [eid]))[eid].lists.get("v", [])


async def test_state_is_one_field_per_producer_whatever_the_envelopes(
    redis_client: aioredis.Redis, redis_keys: RedisKeys
) -> None:
    writer = MetricsWriter(redis_client, redis_keys)
    await writer.apply([env(s, s, pid) for s in range(500) for pid in ("p1", "p2")])
    state = await redis_client.hgetall(redis_keys.seq("e1"))
    assert state == {b"p1": b"499 0", b"p2": b"499 0"}
    assert await redis_client.exists(redis_keys.applied("e1")) == 0


async def test_late_seqs_inside_the_window_apply_once_and_older_ones_are_duplicates(
    redis_client: aioredis.Redis, redis_keys: RedisKeys
) -> None:
    writer = MetricsWriter(redis_client, redis_keys)
    first = 100
    top = first + SEQ_WINDOW + 5
    await writer.apply([env(first, 0.0)])
    # A jump: every seq in between is a hole, but only 32 below `top` are kept.
    await writer.apply([env(top, 1.0)])
    late = [env(s, float(s)) for s in range(first + 1, top)]
    result = await writer.apply([*late, *late])
    in_window = top - SEQ_WINDOW
    assert result.envelopes_applied == SEQ_WINDOW
    assert result.duplicates_skipped == 2 * len(late) - SEQ_WINDOW
    assert await stored(redis_client, redis_keys) == [
        0.0,
        1.0,
        *(float(s) for s in range(in_window, top)),
    ]
    # The first seq of a producer new in E leaves the 32 below it open.
    assert (await writer.apply([env(first - 1, 9.0), env(first - 1, 9.0)])).envelopes_applied == 0
    await writer.apply([env(7, 1.0, pid="p2"), env(3, 2.0, pid="p2"), env(0, 3.0, pid="p2")])
    assert (await stored(redis_client, redis_keys))[-3:] == [1.0, 2.0, 3.0]


class ListSink:
    def __init__(self) -> None:
        self.letters: list[DeadLetter] = []

    async def send(self, letter: DeadLetter) -> None:
        self.letters.append(letter)


async def test_a_producer_beyond_the_cap_is_refused_and_dead_lettered(
    redis_client: aioredis.Redis, redis_keys: RedisKeys
) -> None:
    writer = MetricsWriter(redis_client, redis_keys, limits=WriteLimits(producers=2))
    sink = ListSink()
    count = partial(add_to_counter, redis_client, redis_keys)
    handler = BatchHandler(writer, sink, max_backoff=0.1, count=count)
    envelopes = [env(0, 1.0, "p1"), env(0, 2.0, "p2"), env(0, 3.0, "p3"), env(1, 4.0, "p1")]
    envelopes += [env(10**15, 5.0, "p1"), env(0, 6.0, "p3", eid="e2")]
    messages = [
        RawMessage("metrics", 0, offset, e.key, encode_envelope(e))
        for offset, e in enumerate(envelopes)
    ]
    await handler.handle(messages)
    assert await stored(redis_client, redis_keys) == [1.0, 2.0, 4.0]
    assert await stored(redis_client, redis_keys, "e2") == [6.0]
    assert [letter.message.offset for letter in sink.letters] == [2, 4]
    assert "already has 2 producers, the most allowed" in sink.letters[0].reason
    assert "STEPMETRICS_WORKER_MAX_PRODUCERS" in sink.letters[0].reason
    assert "above 10^15 - 1" in sink.letters[1].reason
    stats = await read_stats(redis_client, redis_keys)
    assert (stats["envelopes_refused"], stats["dead_lettered"]) == (2, 2)
    assert sorted(await redis_client.hkeys(redis_keys.seq("e1"))) == [b"p1", b"p2"]


async def test_an_old_applied_set_is_folded_into_the_seq_state_and_deleted(
    redis_client: aioredis.Redis, redis_keys: RedisKeys
) -> None:
    writer = MetricsWriter(redis_client, redis_keys)
    # Written by the old version: global seqs, so one execution's are sparse.
    old = [env(3, 1.0), env(40, 2.0), env(41, 3.0), env(7, 4.0, pid="p2")]
    await writer.apply(old)
    await redis_client.delete(redis_keys.seq("e1"))
    await redis_client.sadd(redis_keys.applied("e1"), *(e.identity for e in old))
    result = await writer.apply([*old, env(42, 5.0), env(39, 6.0), env(8, 7.0, pid="p2")])
    assert result == ApplyCounts(3, 4, 3, 3, 0)
    assert await stored(redis_client, redis_keys) == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]
    assert await redis_client.exists(redis_keys.applied("e1")) == 0
    assert (await writer.apply(old)).duplicates_skipped == len(old)
