"""Peer: a minimal raw pipeline, one Kafka message per event.

aiokafka producer (child process) -> topic -> aiokafka consumer (child
process) -> one pipelined Redis HSET per event, one round trip per fetched
batch. It has none of stepmetrics' guarantees (no ordering rule, no
exactly-once effect, no indexes): it is the floor of what "Kafka then Redis"
costs on this machine.
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any, Final

import orjson

from benchmarks.runner import (
    Measurement,
    Scale,
    child_main,
    finish_child,
    measure,
    repeat,
    run_child,
    signal_ready,
    start_child,
)
from benchmarks.services import BenchStack, create_topic

FAMILY: Final = "peers"
EXECUTIONS: Final = 10
METRIC_NAMES: Final = 100


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
        __name__, {**common, "role": "consume", "redis": services.redis_url}, timeout=60
    )
    produced = run_child(__name__, {**common, "role": "produce"}, timeout=timeout)
    consumed = finish_child(consumer, timeout=timeout)
    elapsed = consumed["done_at"] - produced["start_at"]
    return {
        "produced_per_s": events / (produced["end_at"] - produced["start_at"]),
        "e2e_per_s": events / elapsed,
    }


async def _produce(spec: dict[str, Any]) -> dict[str, Any]:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=spec["bootstrap"], acks="all", linger_ms=5)
    await producer.start()
    try:
        start = time.time()
        pending = []
        for i in range(spec["events"]):
            eid = f"exec-{i % EXECUTIONS}"
            value = orjson.dumps({"eid": eid, "name": f"m{i % METRIC_NAMES}", "v": float(i)})
            pending.append(await producer.send(spec["topic"], value, key=eid.encode()))
            if len(pending) >= 10_000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
        return {"start_at": start, "end_at": time.time()}
    finally:
        await producer.stop()


async def _consume(spec: dict[str, Any]) -> dict[str, Any]:
    import redis.asyncio as aioredis
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=spec["bootstrap"], enable_auto_commit=False)
    client = aioredis.Redis.from_url(spec["redis"])
    await consumer.start()
    try:
        await consumer.topics()  # fetches the cluster metadata
        partitions = consumer.partitions_for_topic(spec["topic"]) or set()
        consumer.assign([TopicPartition(spec["topic"], p) for p in partitions])
        await consumer.seek_to_beginning()
        signal_ready()
        seen = 0
        prefix = f"raw:{spec['topic']}"
        while seen < spec["events"]:
            batches = await consumer.getmany(timeout_ms=100, max_records=5_000)
            pipe = client.pipeline(transaction=False)
            for records in batches.values():
                for record in records:
                    event = orjson.loads(record.value)
                    pipe.hset(f"{prefix}:{event['eid']}", event["name"], repr(event["v"]))
                    seen += 1
            await pipe.execute()
        return {"done_at": time.time()}
    finally:
        await consumer.stop()
        await client.aclose()


def _child(spec: dict[str, Any]) -> dict[str, Any]:
    role = spec["role"]
    if role == "produce":
        return asyncio.run(_produce(spec))
    if role == "consume":
        return asyncio.run(_consume(spec))
    sys.exit(f"unknown role {role!r}")


if __name__ == "__main__":
    child_main(_child)
