"""Limits per execution, through the real MetricsWriter and BatchHandler on a real redis-server."""

from __future__ import annotations

from functools import partial

import redis.asyncio as aioredis

from stepmetrics.processors.deadletter import DeadLetter, RawMessage
from stepmetrics.processors.handler import BatchHandler
from stepmetrics.processors.writes.limits import WriteLimits
from stepmetrics.processors.writes.writer import MetricsWriter
from stepmetrics.producers.events import Envelope, WireEvent, encode_envelope
from stepmetrics.store.keys import RedisKeys
from stepmetrics.store.stats import ApplyCounts, add_to_counter, read_stats

T = 1_764_150_000_000_000


def env(
    seq: int,
    events: list[WireEvent],
    eid: str = "e1",
    pipeline: str = "train",
    dep: str | None = None,
) -> Envelope:
    return Envelope("p1", seq, eid, pipeline, dep, events)


class CollectingSink:
    """The dead-letter topic's stand-in: keeps what the handler sends."""

    def __init__(self) -> None:
        self.letters: list[DeadLetter] = []

    async def send(self, letter: DeadLetter) -> None:
        self.letters.append(letter)


def _message(offset: int, envelope: Envelope) -> RawMessage:
    return RawMessage("metrics", 0, offset, envelope.key, encode_envelope(envelope))


async def _names(client: aioredis.Redis, key: str) -> set[str]:
    return {name.decode() if isinstance(name, bytes) else name for name in await client.hkeys(key)}


async def test_name_limits_drop_new_names_exactly_and_keep_updating_known_ones(
    redis_client: aioredis.Redis, redis_keys: RedisKeys
) -> None:
    writer = MetricsWriter(
        redis_client, redis_keys, limits=WriteLimits(scalar_names=3, list_names=2)
    )
    first = [("s", "a", T, 1.0), ("s", "a", T + 1, 1.5), ("s", "b", T, 2.0), ("l", "x", T, [1.0])]
    assert await writer.apply([env(0, first)]) == ApplyCounts(1, 0, 4, 1, 0)
    second: list[WireEvent] = [
        ("s", "a", T + 5, 9.0),
        ("s", "c", T + 5, 3.0),
        ("s", "d", T + 5, 4.0),
        ("s", "d", T + 6, 4.5),
        ("l", "x", T + 5, [2.0]),
        ("l", "y", T + 5, [5.0, 6.0]),
        ("l", "z", T + 5, [7.0, 8.0, 9.0]),
    ]
    third: list[WireEvent] = [
        ("s", "d", T + 7, 5.0),
        ("s", "e", T + 7, 6.0),
        ("s", "b", T + 7, 7.0),
    ]
    result = await writer.apply([env(1, second), env(2, third)])
    assert result == ApplyCounts(
        envelopes_applied=2,
        events_applied=10,
        list_values_appended=3,
        scalar_events_dropped_by_name_cap=4,  # d (3 events) and e (1)
        list_values_dropped_by_name_cap=3,  # z
    )
    values = await redis_client.hgetall(redis_keys.scalar_values("e1"))
    assert values == {b"a": b"9.0", b"b": b"7.0", b"c": b"3.0"}
    assert await _names(redis_client, redis_keys.list_created("e1")) == {"x", "y"}
    assert await redis_client.strlen(redis_keys.list_values("e1", "x")) == 16
    assert not await redis_client.exists(redis_keys.list_values("e1", "z"))
    assert await redis_client.hkeys(redis_keys.list_dropped("e1")) == []
    meta = await redis_client.hmget(
        redis_keys.meta("e1"), "dropped_scalar_events", "dropped_list_values"
    )
    assert meta == [b"4", b"3"]
    # No index entry points at a name the execution does not hold.
    for key in (redis_keys.scalar_name_index("d"), redis_keys.scalar_name_index("e")):
        assert await redis_client.zscore(key, "e1") is None
    assert await redis_client.zscore(redis_keys.list_name_index("z"), "e1") is None
    assert await redis_client.zscore(redis_keys.scalar_name_index("c"), "e1") == T
    stats = await read_stats(redis_client, redis_keys)
    assert stats["scalar_events_dropped_by_name_cap"] == 4
    assert stats["list_values_dropped_by_name_cap"] == 3


async def test_one_call_beyond_the_limit_keeps_names_in_order_of_appearance(
    redis_client: aioredis.Redis, redis_keys: RedisKeys
) -> None:
    writer = MetricsWriter(
        redis_client, redis_keys, limits=WriteLimits(scalar_names=2, list_names=1)
    )
    events: list[WireEvent] = [("s", n, T, 1.0) for n in "qpr"]
    events += [("l", n, T, [1.0, 2.0]) for n in "ml"]
    result = await writer.apply([env(0, events)])
    assert (result.scalar_events_dropped_by_name_cap, result.list_values_dropped_by_name_cap) == (
        1,
        2,
    )
    assert await _names(redis_client, redis_keys.scalar_values("e1")) == {"q", "p"}
    assert await _names(redis_client, redis_keys.list_created("e1")) == {"m"}
    # A replay changes nothing and counts nothing as dropped.
    again = await writer.apply([env(0, events)])
    assert again == ApplyCounts(duplicates_skipped=1)


async def test_a_disagreeing_pipeline_or_deployment_is_dead_lettered_and_the_rest_applies(
    redis_client: aioredis.Redis, redis_keys: RedisKeys
) -> None:
    writer = MetricsWriter(redis_client, redis_keys)
    sink = CollectingSink()
    count = partial(add_to_counter, redis_client, redis_keys)
    handler = BatchHandler(writer, sink, max_backoff=0.1, count=count)
    await handler.handle([_message(0, env(0, [("s", "a", T, 1.0)], dep="d1"))])
    batch = [
        env(1, [("s", "a", T + 1, 2.0)], pipeline="other", dep="d1"),
        env(2, [("s", "b", T + 1, 3.0)], eid="e2"),
        env(3, [("s", "a", T + 2, 4.0)], dep="d2"),
        env(4, [("s", "c", T + 3, 5.0)]),  # no deployment: agrees with any
        env(5, [("s", "d", T + 4, 6.0)], dep="d1"),
    ]
    await handler.handle([_message(i + 1, e) for i, e in enumerate(batch)])
    assert [letter.message.offset for letter in sink.letters] == [1, 3]
    assert [letter.reason for letter in sink.letters] == [
        "refused: execution 'e1' belongs to pipeline 'train'; this envelope says 'other' "
        "(fixed by the execution's first applied envelope)",
        "refused: execution 'e1' belongs to deployment 'd1'; this envelope says 'd2' "
        "(fixed by the execution's first applied envelope)",
    ]
    assert sink.letters[0].message.value == encode_envelope(batch[0])
    values = await redis_client.hgetall(redis_keys.scalar_values("e1"))
    assert values == {b"a": b"1.0", b"c": b"5.0", b"d": b"6.0"}
    assert await redis_client.hget(redis_keys.scalar_values("e2"), "b") == b"3.0"
    meta = await redis_client.hmget(redis_keys.meta("e1"), "pipeline_name", "deployment_name")
    assert meta == [b"train", b"d1"]
    assert await redis_client.zscore(redis_keys.pipeline_index("other"), "e1") is None
    assert await redis_client.zscore(redis_keys.deployment_index("d2"), "e1") is None
    stats = await read_stats(redis_client, redis_keys)
    assert (stats["envelopes_applied"], stats["envelopes_refused"], stats["dead_lettered"]) == (
        4,
        2,
        2,
    )
    # A refused envelope was not marked applied: sent again, it is refused again.
    await handler.handle([_message(6, batch[0])])
    assert len(sink.letters) == 3
    assert (await read_stats(redis_client, redis_keys))["duplicates_skipped"] == 0
