"""Child of the best-case peer: envelopes of 1,000 events, one pipelined HSET each.

Run as `python -m benchmarks.children.peer_best <spec-json>`; the spec's `role`
is `produce` or `consume`. The producer sends `events` scalar events as
compact-JSON envelopes of `per_envelope` events (`{"eid": ..., "v": {name:
value}}`, the executions dealt round robin so every partition is used); the
consumer reads from the beginning and writes each envelope with one `HSET
key mapping` in a pipeline per fetched batch: no dedup, no ordering rule, no
indexes, none of stepmetrics' guarantees.
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any, Final

import orjson

from benchmarks.harness.runner import child_main, signal_ready

EXECUTIONS: Final = 10
METRIC_NAMES: Final = 1000


async def _produce(spec: dict[str, Any]) -> dict[str, Any]:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(
        bootstrap_servers=spec["bootstrap"], acks="all", linger_ms=5, max_batch_size=1 << 18
    )
    await producer.start()
    try:
        names = [f"m{i}" for i in range(METRIC_NAMES)]
        per, events = spec["per_envelope"], spec["events"]
        start = time.time()
        pending = []
        for n, first in enumerate(range(0, events, per)):
            eid = f"exec-{n % EXECUTIONS}"
            values = {
                names[i % METRIC_NAMES]: float(i) for i in range(first, min(events, first + per))
            }
            data = orjson.dumps({"eid": eid, "v": values})
            pending.append(await producer.send(spec["topic"], data, key=eid.encode()))
        await asyncio.gather(*pending)
        return {"start_at": start, "end_at": time.time(), "envelopes": len(pending)}
    finally:
        await producer.stop()


async def _consume(spec: dict[str, Any]) -> dict[str, Any]:
    import redis.asyncio as aioredis
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(
        bootstrap_servers=spec["bootstrap"], enable_auto_commit=False, fetch_max_wait_ms=100
    )
    client = aioredis.Redis.from_url(spec["redis"])
    await consumer.start()
    try:
        await consumer.topics()  # fetches the cluster metadata
        partitions = consumer.partitions_for_topic(spec["topic"]) or set()
        consumer.assign([TopicPartition(spec["topic"], p) for p in partitions])
        await consumer.seek_to_beginning()
        signal_ready()
        seen = 0
        prefix = f"best:{spec['topic']}"
        while seen < spec["events"]:
            batches = await consumer.getmany(timeout_ms=100, max_records=500)
            pipe = client.pipeline(transaction=False)
            for records in batches.values():
                for record in records:
                    envelope = orjson.loads(record.value)
                    pipe.hset(f"{prefix}:{envelope['eid']}", mapping=envelope["v"])
                    seen += len(envelope["v"])
            await pipe.execute()
        return {"done_at": time.time(), "seen": seen}
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
