"""Deleting and retention: how long one delete blocks Redis, and the sweep's rate.

Executions are written through the real `MetricsWriter` into the stack's
redis-server under a fresh key prefix: a small one (20 scalars, 2 lists of
1,000 values) and a large one at the worker's limits (10,000 scalars, 40
lists of 50,000 values: 2,000,000 values, 16 MB). Each is deleted with
`stepmetrics.store.lifecycle.Deleter`; the time the delete script held Redis
is Redis's own measure (`SLOWLOG` with a 0 µs threshold, the EVALSHA entries
of the delete script), the whole delete (script plus the index cleanup
pipeline) is wall-clock. Then 1,000 small executions last updated 2 days ago
are swept by `RetentionSweeper` (retention 1 day, its default rounds of 100
and 50 ms pauses): executions deleted per second, and the longest single
delete script of the sweep.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Final

import redis.asyncio as aioredis

from benchmarks.harness.runner import Measurement, Scale, measure
from stepmetrics.processors.retention import US_PER_DAY, RetentionSweeper
from stepmetrics.processors.writes.writer import MetricsWriter
from stepmetrics.producers.events import Envelope, WireEvent
from stepmetrics.store.keys import RedisKeys
from stepmetrics.store.lifecycle import Deleter
from tests.support.services import BenchStack

FAMILY: Final = "lifecycle"
SWEPT: Final = 1_000
BATCH: Final = 200  # envelopes per writer call (the worker's batch size)
PER_ENVELOPE: Final = 1_000  # events or list values per envelope


def run(stack: BenchStack, scale: Scale) -> list[Measurement]:
    """Delete script time (small, large), whole delete, and the sweep's rate."""
    return asyncio.run(_run(stack.redis_url, scale))


async def _run(redis_url: str, scale: Scale) -> list[Measurement]:
    client = aioredis.Redis.from_url(redis_url)
    try:
        old = await client.config_get("slowlog-*")
        await client.config_set("slowlog-log-slower-than", 0)
        await client.config_set("slowlog-max-len", 100_000)
        try:
            return await _measure_all(client, scale)
        finally:
            for name, value in old.items():
                if name is not None and value is not None:
                    await client.config_set(name, value)
    finally:
        await client.aclose()


async def _measure_all(client: aioredis.Redis, scale: Scale) -> list[Measurement]:
    large = (scale.count(10_000, 10), scale.count(40, 1), scale.count(50_000, 10))
    small_script, large_script, large_wall = [], [], []
    for _ in range(scale.repeats):
        small_script.append((await _delete_one(client, (20, 2, 1_000)))[0])
    for _ in range(min(scale.repeats, 3)):
        script_us, wall_s = await _delete_one(client, large)
        large_script.append(script_us / 1000)
        large_wall.append(wall_s * 1000)
    rate, longest = await _sweep(client, scale.count(SWEPT, minimum=10))
    shape = f"{large[0]:,} scalars, {large[1]} lists x {large[2]:,} values"
    return [
        measure(FAMILY, "delete script, small execution", small_script, "µs",
                higher_is_better=False, note="20 scalars, 2 lists x 1,000 values; SLOWLOG"),
        measure(FAMILY, "delete script, large execution", large_script, "ms",
                higher_is_better=False, note=shape + "; SLOWLOG: the time Redis was held"),
        measure(FAMILY, "delete, large execution (with index cleanup)", large_wall, "ms",
                higher_is_better=False, note=shape + "; wall clock"),
        measure(FAMILY, "retention sweep", [rate], "executions/s",
                note="small executions, rounds of 100, 50 ms pauses"),
        measure(FAMILY, "longest delete script in the sweep", [longest], "µs",
                higher_is_better=False, note="SLOWLOG"),
    ]  # fmt: skip


def _envelopes(eid: str, shape: tuple[int, int, int], ts: int) -> list[Envelope]:
    scalars, lists, values = shape
    events: list[WireEvent] = [("s", f"m{i}", ts, float(i)) for i in range(scalars)]
    for j in range(lists):
        for start in range(0, values, PER_ENVELOPE):
            count = min(PER_ENVELOPE, values - start)
            events.append(("l", f"curve{j}", ts + start, [float(start + k) for k in range(count)]))
    # One envelope per PER_ENVELOPE scalar events, one per list chunk.
    chunks: list[list[WireEvent]] = []
    for event in events:
        size = len(event[3]) if isinstance(event[3], list) else 1
        if not chunks or sum(_size(e) for e in chunks[-1]) + size > PER_ENVELOPE:
            chunks.append([])
        chunks[-1].append(event)
    return [Envelope("bench", seq, eid, "bench", "dep", chunk) for seq, chunk in enumerate(chunks)]


def _size(event: WireEvent) -> int:
    return len(event[3]) if isinstance(event[3], list) else 1


async def _write(client: aioredis.Redis, keys: RedisKeys, envelopes: list[Envelope]) -> None:
    writer = MetricsWriter(client, keys)
    for start in range(0, len(envelopes), BATCH):
        await writer.apply(envelopes[start : start + BATCH])


async def _delete_one(client: aioredis.Redis, shape: tuple[int, int, int]) -> tuple[float, float]:
    """(µs the delete script held Redis, seconds of the whole delete)."""
    keys = RedisKeys(f"bench-life-{uuid.uuid4().hex[:8]}")
    await _write(client, keys, _envelopes("e", shape, time.time_ns() // 1000))
    deleter = Deleter.create(client, keys, 3600)
    await client.slowlog_reset()
    started = time.perf_counter()
    reply = await deleter.delete("e")
    wall = time.perf_counter() - started
    if reply.status != "deleted" or len(reply.scalar_names) != shape[0]:
        raise RuntimeError(
            f"the delete answered {reply.status} with {len(reply.scalar_names)} scalars"
        )
    # The longest EVALSHA of the script: the first call may be a NOSCRIPT miss
    # (redis-py then loads the script and calls again).
    script_us = max(await _script_durations(client, deleter))
    await _drop(client, keys)
    return script_us, wall


async def _sweep(client: aioredis.Redis, count: int) -> tuple[float, float]:
    """(executions deleted per second, longest delete script in µs)."""
    keys = RedisKeys(f"bench-life-{uuid.uuid4().hex[:8]}")
    two_days_ago = time.time_ns() // 1000 - 2 * US_PER_DAY
    envelopes = [e for i in range(count) for e in _envelopes(f"e{i}", (5, 1, 10), two_days_ago)]
    await _write(client, keys, envelopes)
    deleter = Deleter.create(client, keys, 3600)
    sweeper = RetentionSweeper(deleter, 1.0)
    await client.slowlog_reset()
    started = time.perf_counter()
    deleted = await sweeper.sweep()
    seconds = time.perf_counter() - started
    if deleted != count:
        raise RuntimeError(f"the sweep deleted {deleted} of {count} executions")
    durations = await _script_durations(client, deleter)
    await _drop(client, keys)
    return deleted / seconds, max(durations)


async def _script_durations(client: aioredis.Redis, deleter: Deleter) -> list[float]:
    entries = await client.slowlog_get(100_000)
    sha = deleter.script.sha.encode()
    return [float(e["duration"]) for e in entries if sha in bytes(e["command"])]


async def _drop(client: aioredis.Redis, keys: RedisKeys) -> None:
    doomed = [k async for k in client.scan_iter(match=f"{keys.prefix}:*", count=1000)]
    for start in range(0, len(doomed), 1000):
        await client.delete(*doomed[start : start + 1000])
