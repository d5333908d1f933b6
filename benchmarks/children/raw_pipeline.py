"""Child of the raw pipeline peer: the aiokafka producer, or the consumer writing to Redis.

Run as `python -m benchmarks.children.raw_pipeline <spec-json>`; the spec's
`role` is `produce` or `consume`.
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any, Final

import orjson

from benchmarks.harness.runner import child_main, signal_ready

EXECUTIONS: Final = 10
METRIC_NAMES: Final = 100


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
