"""The harness starts real services that speak their protocols."""

from __future__ import annotations

import redis.asyncio as aioredis
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from stepmetrics.stack.services import ManagedProcess
from stepmetrics.store.keys import RedisKeys


async def test_broker_round_trip(broker: ManagedProcess, topic: str) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=broker.address, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"hello", key=b"exec-1")
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=broker.address,
        auto_offset_reset="earliest",
        group_id=None,
    )
    await consumer.start()
    try:
        batch = await consumer.getmany(timeout_ms=5000)
    finally:
        await consumer.stop()
    values = [record.value for records in batch.values() for record in records]
    assert values == [b"hello"]


async def test_redis_is_private_and_real(
    redis_client: aioredis.Redis, redis_server: ManagedProcess, redis_keys: RedisKeys
) -> None:
    assert not redis_server.address.endswith(":6379/0")  # never the system Redis
    await redis_client.hset(redis_keys.meta("e1"), "pipeline_name", "p")
    assert await redis_client.hget(redis_keys.meta("e1"), "pipeline_name") == b"p"
    info = await redis_client.info("persistence")
    assert info["aof_enabled"] == 1
