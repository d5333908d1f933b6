"""A compressed batch that inflates past the limit is refused, not materialised (real broker)."""

from __future__ import annotations

from pathlib import Path

import redis.asyncio as aioredis
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import TopicPartition

from stepmetrics.processors.refusals import LAST_OFFSET_HEADER
from stepmetrics.producers.events import encode_envelope
from stepmetrics.stack.services import ManagedProcess
from stepmetrics.store.keys import RedisKeys
from stepmetrics.store.stats import read_stats
from tests.integration.conftest import Spawn
from tests.support.metrics_state import actual_state, expected_state
from tests.support.worker import consume_all, make_envelopes, wait_for

LIMIT = 4 * 1024 * 1024
BOMB = 100 * 1024 * 1024  # one record of zeros: ~3 kB once zstd-compressed
EXECUTIONS = ["exec-bomb-a", "exec-bomb-b"]


def _peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmHWM for process {pid}")


async def test_a_zstd_bomb_is_dead_lettered_and_the_partition_flows_on(
    broker: ManagedProcess,
    redis_client: aioredis.Redis,
    redis_keys: RedisKeys,
    topic: str,
    env: dict[str, str],
    spawn: Spawn,
) -> None:
    worker = spawn({**env, "STEPMETRICS_MAX_BATCH_INFLATED_BYTES": str(LIMIT)}, "worker")
    await worker.start()
    assert worker.proc is not None
    before = _peak_rss_kib(worker.proc.pid)
    good = make_envelopes("p1", EXECUTIONS, count=20, events_per=4, seed=5)
    producer = AIOKafkaProducer(
        bootstrap_servers=broker.address, compression_type="zstd", max_request_size=2 * BOMB
    )
    await producer.start()
    try:
        for envelope in good[:10]:
            await producer.send_and_wait(topic, encode_envelope(envelope), partition=0)
        bomb = await producer.send_and_wait(topic, bytes(BOMB), key=b"bomb", partition=0)
        for envelope in good[10:]:
            await producer.send_and_wait(topic, encode_envelope(envelope), partition=0)
    finally:
        await producer.stop()

    async def applied() -> bool:
        stats = await read_stats(redis_client, redis_keys)
        return stats["envelopes_applied"] >= len(good) and stats["batches_refused"] >= 1

    await wait_for(applied, 60, "the envelopes after the bomb applied, the bomb refused")
    [letter] = await consume_all(broker.address, f"{topic}.deadletter", 1)
    headers = dict(letter.headers)
    reason = headers["stepmetrics-reason"].decode()
    assert reason.startswith("refused: zstd batch of "), reason
    assert reason.endswith(
        f"inflates past {LIMIT} bytes (STEPMETRICS_MAX_BATCH_INFLATED_BYTES); "
        f"offsets {bomb.offset}..{bomb.offset} skipped unread"
    ), reason
    assert (headers["stepmetrics-source-partition"], headers["stepmetrics-source-offset"]) == (
        b"0",
        str(bomb.offset).encode(),
    )
    assert headers[LAST_OFFSET_HEADER] == str(bomb.offset).encode()
    assert (letter.key, letter.value) == (None, b"")
    # Never materialised: the worker's peak grew by far less than the bomb's 100 MiB.
    grown_mib = (_peak_rss_kib(worker.proc.pid) - before) / 1024
    assert grown_mib < 40, f"worker peak RSS grew by {grown_mib:.0f} MiB"
    assert await worker.stop() == 0
    # faust took the skipped offsets for a gap: the group committed past the bomb.
    consumer = AIOKafkaConsumer(bootstrap_servers=broker.address, group_id=topic)
    await consumer.start()
    try:
        committed = await consumer.committed(TopicPartition(topic, 0))
    finally:
        await consumer.stop()
    assert committed == bomb.offset + 1 + len(good) - 10
    stats = await read_stats(redis_client, redis_keys)
    assert (stats["batches_refused"], stats["dead_lettered"]) == (1, 1)
    assert stats["envelopes_applied"] == len(good)
    state = await actual_state(redis_client, redis_keys, EXECUTIONS)
    assert state == expected_state(good)
