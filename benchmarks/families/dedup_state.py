"""Dedup state: bytes of exactly-once state per (execution, producer).

100,000 small envelopes of ONE execution from 4 producers (seqs per producer
and execution, delivered interleaved and locally out of order within the
window, every tenth one twice) go through the real `MetricsWriter` into the
stack's redis-server in batches of 200, the worker's batch size; then Redis
`MEMORY USAGE` of the execution's dedup key (`P:{E}:seq`) is divided by the
producers. For comparison, the same identities in a Redis set, the
`P:{E}:applied` state this replaced.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from typing import Final

import redis.asyncio as aioredis

from benchmarks.harness.runner import Measurement, Scale, measure
from stepmetrics.processors.writes.writer import MetricsWriter
from stepmetrics.producers.events import Envelope
from stepmetrics.store.keys import RedisKeys
from tests.support.services import BenchStack

FAMILY: Final = "dedup"
ENVELOPES: Final = 100_000
PRODUCERS: Final = 4
BATCH: Final = 200
# Issue 11: at most this many bytes of dedup state per (execution, producer).
TARGET_BYTES: Final = 256
_T0: Final = 1_764_150_000_000_000


def run(stack: BenchStack, scale: Scale) -> list[Measurement]:
    """Bytes per (execution, producer), and the old set's for comparison."""
    n = scale.count(ENVELOPES, minimum=PRODUCERS * 10)
    seq_bytes, set_bytes = asyncio.run(_measure(stack.redis_url, n))
    shape = f"{n} envelopes, 1 execution, {PRODUCERS} producers"
    return [
        measure(
            FAMILY,
            "dedup state per (execution, producer)",
            [seq_bytes / PRODUCERS],
            "bytes",
            target=TARGET_BYTES,
            higher_is_better=False,
            note=shape,
        ),
        measure(
            FAMILY,
            "old applied set per (execution, producer)",
            [set_bytes / PRODUCERS],
            "bytes",
            higher_is_better=False,
            note=f"{shape}: the same identities in a Redis set",
        ),
    ]


def _delivery(n: int, rng: random.Random) -> list[Envelope]:
    pids = [uuid.uuid4().hex for _ in range(PRODUCERS)]
    streams = []
    for pid in pids:
        own = [
            Envelope(pid, 1_000 + i, "bench", "p", None, [("s", "m", _T0 + i, float(i))])
            for i in range(n // PRODUCERS)
        ]
        for i in range(0, len(own) - 8, 8):  # out of order within the window
            own[i : i + 8] = rng.sample(own[i : i + 8], 8)
        streams.append(own)
    out = [e for group in zip(*streams, strict=True) for e in group]
    return [copy for i, e in enumerate(out) for copy in ([e, e] if i % 10 == 0 else [e])]


async def _measure(redis_url: str, n: int) -> tuple[int, int]:
    keys = RedisKeys(f"bench-dedup-{uuid.uuid4().hex[:8]}")
    client = aioredis.Redis.from_url(redis_url)
    try:
        envelopes = _delivery(n, random.Random(11))
        writer = MetricsWriter(client, keys)
        applied = 0
        for start in range(0, len(envelopes), BATCH):
            applied += (await writer.apply(envelopes[start : start + BATCH])).envelopes_applied
        if applied != len({e.identity for e in envelopes}):
            raise RuntimeError(f"applied {applied} envelopes, not each distinct one once")
        seq_bytes = await client.memory_usage(keys.seq("bench"))
        old = keys.applied("bench-old")
        identities = [e.identity for e in envelopes]
        for start in range(0, len(identities), 10_000):
            await client.sadd(old, *identities[start : start + 10_000])
        set_bytes = await client.memory_usage(old)
        doomed = [k async for k in client.scan_iter(match=f"{keys.prefix}:*")]
        await client.delete(*doomed)
        return int(seq_bytes or 0), int(set_bytes or 0)
    finally:
        await client.aclose()
