"""Peer: the hand-written best case of "Kafka then Redis" for the same scalar workload.

aiokafka producer -> topic -> aiokafka consumer -> one pipelined `HSET key
mapping` per envelope of 1,000 events (`benchmarks.children.peer_best`,
producer and consumer in child processes, the stack's broker and Redis). It
does no dedup and follows no ordering rule; stepmetrics' `e2e scalar events`
does both (exactly-once per producer window, last write wins), so the ratio
`e2e scalars / best peer e2e` (target >= 0.5x) is what those guarantees and
the SDK cost against the floor.

After each run the consumer's count and every stored hash are checked: the
last round's value of each metric name in each execution.
"""

from __future__ import annotations

import asyncio
import time
from typing import Final

from benchmarks.children import PEER_BEST
from benchmarks.children.peer_best import EXECUTIONS, METRIC_NAMES
from benchmarks.harness.runner import (
    Measurement,
    Scale,
    finish_child,
    measure,
    repeat,
    run_child,
    start_child,
)
from tests.support.services import BenchStack, create_topic

FAMILY: Final = "peers"
PER_ENVELOPE: Final = 1000
EVENTS: Final = 400_000  # the e2e family's scalar workload: 400 x 1,000 names


def run(stack: BenchStack, scale: Scale) -> list[Measurement]:
    """Produce rate and end-to-end events/s of the best-case peer."""
    events = scale.count(EVENTS, minimum=EXECUTIONS * PER_ENVELOPE)
    runs = repeat(scale.repeats, lambda: once(stack, events, scale.seconds * 6))
    note = f"{events} scalar events, envelopes of {PER_ENVELOPE}, one HSET each, acks=all"
    return [
        measure(FAMILY, "best peer produce", runs["produced_per_s"], "events/s", note=note),
        measure(FAMILY, "best peer end to end", runs["e2e_per_s"], "events/s", note=note),
    ]


def once(stack: BenchStack, events: int, timeout: float) -> dict[str, float]:
    """One run on a fresh topic; checks the count and the stored values."""
    topic = asyncio.run(
        create_topic(stack.bootstrap, f"bench-best-{time.time_ns()}", stack.partitions)
    )
    common = {"bootstrap": stack.bootstrap, "topic": topic, "events": events}
    consumer = start_child(
        PEER_BEST, {**common, "role": "consume", "redis": stack.redis_url}, timeout=60
    )
    produced = run_child(
        PEER_BEST, {**common, "role": "produce", "per_envelope": PER_ENVELOPE}, timeout=timeout
    )
    consumed = finish_child(consumer, timeout=timeout)
    if consumed["seen"] != events:
        raise RuntimeError(f"best peer: {consumed['seen']} events consumed, not {events}")
    _verify(stack, topic, events)
    return {
        "produced_per_s": events / (produced["end_at"] - produced["start_at"]),
        "e2e_per_s": events / (consumed["done_at"] - produced["start_at"]),
        "envelopes": float(produced["envelopes"]),
    }


def _verify(stack: BenchStack, topic: str, events: int) -> None:
    """Each execution's hash holds the last value sent for each name."""
    expected: dict[str, dict[bytes, bytes]] = {}
    for first in range(0, events, PER_ENVELOPE):
        eid = f"exec-{(first // PER_ENVELOPE) % EXECUTIONS}"
        for i in range(first, min(events, first + PER_ENVELOPE)):
            expected.setdefault(eid, {})[f"m{i % METRIC_NAMES}".encode()] = repr(float(i)).encode()
    client = stack.sync_redis()
    try:
        for eid, fields in expected.items():
            stored = client.hgetall(f"best:{topic}:{eid}")
            if stored != fields:
                raise RuntimeError(f"best peer: {eid} holds {len(stored)} fields, not as sent")
    finally:
        client.close()
