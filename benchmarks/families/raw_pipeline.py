"""Peer: a minimal raw pipeline, one Kafka message per event.

aiokafka producer -> topic -> aiokafka consumer -> one pipelined Redis HSET
per event, one round trip per fetched batch (producer and consumer are child
processes, `benchmarks.children.raw_pipeline`). It has none of stepmetrics'
guarantees (no ordering rule, no exactly-once effect, no indexes): it is the
floor of what "Kafka then Redis" costs on this machine.
"""

from __future__ import annotations

import asyncio
import time
from typing import Final

from benchmarks.children import RAW_PIPELINE
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


def run(services: BenchStack, scale: Scale) -> list[Measurement]:
    """Measure the raw pipeline end to end: events/s from first send to last write."""
    events = scale.count(200_000, minimum=200)
    runs = repeat(scale.repeats, lambda: _once(services, events, scale.seconds * 6))
    note = f"{events} scalar events, 1 message/event, acks=all"
    return [
        measure(FAMILY, "raw pipeline produce", runs["produced_per_s"], "events/s", note=note),
        measure(FAMILY, "raw pipeline end to end", runs["e2e_per_s"], "events/s", note=note),
    ]


def _once(services: BenchStack, events: int, timeout: float) -> dict[str, float]:
    topic = asyncio.run(
        create_topic(services.bootstrap, f"bench-raw-{time.time_ns()}", services.partitions)
    )
    common = {"bootstrap": services.bootstrap, "topic": topic, "events": events}
    consumer = start_child(
        RAW_PIPELINE, {**common, "role": "consume", "redis": services.redis_url}, timeout=60
    )
    produced = run_child(RAW_PIPELINE, {**common, "role": "produce"}, timeout=timeout)
    consumed = finish_child(consumer, timeout=timeout)
    elapsed = consumed["done_at"] - produced["start_at"]
    return {
        "produced_per_s": events / (produced["end_at"] - produced["start_at"]),
        "e2e_per_s": events / elapsed,
    }
