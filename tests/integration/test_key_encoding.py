"""Ids and names with braces, colons, `%`, spaces and non-ASCII text, through
the real writer and reader: each execution keeps its own data."""

from __future__ import annotations

import redis.asyncio as aioredis

from stepmetrics.processors.writes.writer import MetricsWriter
from stepmetrics.producers.events import Envelope
from stepmetrics.store.keys import RedisKeys
from stepmetrics.store.reader import MetricsReader

T = 1_764_150_000_000_000


async def _lists(reader: MetricsReader, execution_id: str) -> dict[str, object]:
    page, _ = await reader.list_metrics(("execution_id", execution_id), limit=100)
    return {m["name"]: m["value"] for m in page}


async def test_names_that_look_like_key_parts_stay_apart(
    redis_client: aioredis.Redis, redis_keys: RedisKeys
) -> None:
    writer = MetricsWriter(redis_client, redis_keys)
    result = await writer.apply(
        [
            Envelope("p1", 0, "run1", "train", None, [("l", "b}:l:c", T, [5.0])]),
            Envelope("p2", 0, "run1}:l:b", "train", None, [("l", "c", T, [6.0, 7.0])]),
            Envelope("p3", 0, "victim", "train", None, [("l", "z}:meta", T, [1.0])]),
            Envelope("p4", 0, "victim}:l:z", "train", None, [("s", "acc", T, 0.5)]),
            Envelope("p5", 0, "%7D é {x}", "p {q}", "d:%", [("s", "a}b", T, 2.0)]),
        ]
    )
    assert result.envelopes_applied == 5
    reader = MetricsReader(redis_client, redis_keys)
    assert await _lists(reader, "run1") == {"b}:l:c": [5.0]}
    assert await _lists(reader, "run1}:l:b") == {"c": [6.0, 7.0]}
    assert await _lists(reader, "victim") == {"z}:meta": [1.0]}
    odd = await reader.execution("%7D é {x}")
    assert odd is not None
    assert (odd["pipeline_name"], odd["deployment_name"]) == ("p {q}", "d:%")
    assert [(m["name"], m["value"]) for m in odd["scalars"]] == [("a}b", 2.0)]
    victim = await reader.execution("victim}:l:z")
    assert victim is not None
    assert [(m["name"], m["value"]) for m in victim["scalars"]] == [("acc", 0.5)]
