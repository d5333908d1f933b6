"""The real worker process against the real broker and redis-server."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from stepmetrics.processors.deadletter import TRUNCATED_HEADER, LetterRecord
from stepmetrics.stack.services import ManagedProcess, start_redis
from stepmetrics.store.connection import RedisClient
from stepmetrics.store.keys import RedisKeys
from stepmetrics.store.stats import read_stats
from tests.integration.conftest import Spawn
from tests.support.metrics_state import actual_state, expected_state, snapshot
from tests.support.redis_targets import BOTH_REDIS_MODES, RedisTarget
from tests.support.worker import (
    REPO,
    Hostile,
    T,
    consume_all,
    letter_source,
    make_envelopes,
    produce,
    produce_interleaved,
    wait_for,
    worker_env,
)

EXECUTIONS = ["exec-a", "exec-b", "exec-c"]
MAX_EVENTS = 20_000


@dataclass(frozen=True)
class Rig:
    """What a worker test runs on: the shared broker, the test's topic, a client of
    the test's Redis with the test's keys, a worker environment for them, and
    the factory of worker processes."""

    broker: ManagedProcess
    redis: RedisClient
    keys: RedisKeys
    topic: str
    env: dict[str, str]
    spawn: Spawn

    async def stats(self) -> dict[str, int]:
        """The worker's counters, as the store reads them."""
        return await read_stats(self.redis, self.keys)

    async def applied(self, at_least: int) -> bool:
        return (await self.stats())["envelopes_applied"] >= at_least


@pytest.fixture
def rig(
    broker: ManagedProcess,
    redis_client: RedisClient,
    redis_keys: RedisKeys,
    topic: str,
    env: dict[str, str],
    spawn: Spawn,
) -> Rig:
    return Rig(broker, redis_client, redis_keys, topic, env, spawn)


@BOTH_REDIS_MODES
async def test_kill_9_restart_then_full_replay_leave_exactly_the_expected_state(rig: Rig) -> None:
    envelopes = make_envelopes("p1", EXECUTIONS, count=240, events_per=30)

    # Phase 1: a worker that commits nothing, killed -9 mid-stream.
    first = rig.spawn({**rig.env, "STEPMETRICS_WORKER_COMMIT_INTERVAL": "600"}, "w1")
    await first.start()
    stream = asyncio.create_task(produce(rig.broker.address, rig.topic, envelopes, pause=0.05))
    await wait_for(lambda: rig.applied(40), 30, "40 envelopes applied")
    await first.kill()
    killed_at = (await rig.stats())["envelopes_applied"]
    assert killed_at < len(envelopes), "the kill was not mid-stream"

    # Phase 2: a restart in the same group re-reads everything uncommitted.
    second = rig.spawn(rig.env, "w2")
    await second.start()
    await stream
    await wait_for(lambda: rig.applied(len(envelopes)), 60, "all envelopes applied")
    assert await second.stop() == 0
    stats = await rig.stats()
    assert stats["envelopes_applied"] == len(envelopes)
    assert stats["duplicates_skipped"] >= killed_at  # replayed, and skipped
    assert await actual_state(rig.redis, rig.keys, EXECUTIONS) == expected_state(envelopes)
    assert await _committed_total(rig.broker.address, rig.topic, group=rig.topic) == len(envelopes)
    before = await snapshot(rig.redis, rig.keys.prefix)

    # Phase 3: a new consumer group replays the whole topic: nothing changes.
    replay = rig.spawn({**rig.env, "STEPMETRICS_WORKER_GROUP": f"{rig.topic}-replay"}, "w3")
    await replay.start()
    skipped = stats["duplicates_skipped"]

    async def replayed() -> bool:
        now = await rig.stats()
        return now["duplicates_skipped"] >= skipped + len(envelopes)

    await wait_for(replayed, 60, "the whole topic replayed")
    assert await replay.stop() == 0
    assert await snapshot(rig.redis, rig.keys.prefix) == before
    stats = await rig.stats()
    assert stats["envelopes_applied"] == len(envelopes)
    assert stats["duplicates_skipped"] == skipped + len(envelopes)


@BOTH_REDIS_MODES
async def test_cap_is_exact_with_two_concurrent_producer_processes(rig: Rig) -> None:
    # Two workers share the group: the second one's join rebalances the partitions.
    workers = [rig.spawn(rig.env, "w1"), rig.spawn(rig.env, "w2")]
    await asyncio.gather(*(w.start() for w in workers))
    count, per = 30, 1000  # 2 x 30,000 values for a cap of 50,000
    producers = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.support.produce_list",
            rig.broker.address,
            rig.topic,
            f"producer-{i}",
            "shared",
            str(count),
            str(per),
            str(base),
            cwd=REPO,
        )
        for i, base in enumerate((0, 1_000_000))
    ]
    assert [await p.wait() for p in producers] == [0, 0]

    await wait_for(lambda: rig.applied(2 * count), 60, "both producers' envelopes applied")
    assert [await w.stop() for w in workers] == [0, 0]
    state = (await actual_state(rig.redis, rig.keys, ["shared"]))["shared"]
    values = state.lists["curve"]
    assert len(values) == 50_000
    assert state.dropped == {"curve": 2 * count * per - 50_000}
    # Each producer's kept values are a prefix of what it sent, in its order.
    for base in (0, 1_000_000):
        mine = [v - base for v in values if base <= v < base + 1_000_000]
        assert mine == [float(k) for k in range(len(mine))]
    stats = await rig.stats()
    assert stats["values_dropped_by_cap"] == 2 * count * per - 50_000


@BOTH_REDIS_MODES
async def test_script_flushes_mid_stream_lose_nothing(rig: Rig) -> None:
    envelopes = make_envelopes("p1", EXECUTIONS, count=120, events_per=20, seed=3)
    worker = rig.spawn(rig.env, "w")
    await worker.start()
    stream = asyncio.create_task(produce(rig.broker.address, rig.topic, envelopes, pause=0.05))

    async def all_applied() -> bool:
        await rig.redis.script_flush()  # the worker's next batch finds no script
        return (await rig.stats())["envelopes_applied"] >= len(envelopes)

    await wait_for(all_applied, 60, "all envelopes applied", interval=0.05)
    await stream
    assert await worker.stop() == 0
    stats = await rig.stats()
    assert (stats["envelopes_applied"], stats["dead_lettered"]) == (len(envelopes), 0)
    assert await actual_state(rig.redis, rig.keys, EXECUTIONS) == expected_state(envelopes)


def _poison() -> list[tuple[bytes | None, str]]:
    """Bad message values and the reason fragment each must be dead-lettered with."""
    good = {"v": 1, "pid": "bad", "seq": 0, "eid": "exec-a", "pipe": "pipe", "dep": None}
    huge = {**good, "ev": [["l", "big", T, [0.123456789] * 100_000]]}
    return [
        (b"not json at all", "not JSON"),
        (orjson.dumps({**good, "v": 99, "ev": [["s", "a", T, 1.0]]}), "unknown schema version"),
        (orjson.dumps({**good, "ev": [["s", "a", T, "abc"]]}), "is not a number"),
        (orjson.dumps(huge), "exceeds 900000"),
        (None, "not JSON"),
        # Valid, but Redis refuses it: this execution's scalar hash is a string.
        (orjson.dumps({**good, "eid": "exec-broken", "ev": [["s", "a", T, 1.0]]}), "WRONGTYPE"),
        # Valid, but exec-a belongs to pipeline 'pipe', deployment 'dep' (its first envelope).
        (orjson.dumps({**good, "pipe": "other", "ev": [["s", "a", T, 1.0]]}), "pipeline 'pipe'"),
        (orjson.dumps({**good, "dep": "dep-2", "ev": [["s", "a", T, 1.0]]}), "deployment 'dep'"),
        # More events than the worker's STEPMETRICS_MAX_ENVELOPE_EVENTS (set below).
        (orjson.dumps({**good, "ev": [["s", "a", T, 1.0]] * (MAX_EVENTS + 1)}), "20001 events"),
    ]


async def test_poison_messages_are_dead_lettered_while_good_ones_flow(rig: Rig) -> None:
    worker = rig.spawn({**rig.env, "STEPMETRICS_MAX_ENVELOPE_EVENTS": str(MAX_EVENTS)}, "worker")
    await worker.start()
    good = make_envelopes("p1", EXECUTIONS, count=40, events_per=10)
    poison = _poison()
    await rig.redis.set(rig.keys.scalar_values("exec-broken"), b"not a hash")
    hostile: list[Hostile] = [(b"exec-a", value, reason) for value, reason in poison]
    sources = await produce_interleaved(rig.broker.address, rig.topic, good, hostile, every=4)
    assert len(sources) == len(poison)

    async def done() -> bool:
        stats = await rig.stats()
        return stats["envelopes_applied"] >= len(good) and stats["dead_lettered"] >= len(poison)

    await wait_for(done, 60, "good envelopes applied and poison dead-lettered")
    started_us = time.time_ns() // 1000

    async def lag_reported() -> bool:
        stats = await rig.stats()
        return stats["lag_updated_us"] > started_us and stats["lag"] == 0

    await wait_for(lag_reported, 10, "the worker to report lag 0")
    assert await worker.stop() == 0
    stats = await rig.stats()
    assert (stats["envelopes_applied"], stats["dead_lettered"]) == (len(good), len(poison))
    assert await actual_state(rig.redis, rig.keys, EXECUTIONS) == expected_state(good)
    letters = await consume_all(rig.broker.address, f"{rig.topic}.deadletter", len(poison))
    for letter in letters:
        headers = dict(letter.headers)
        assert headers["stepmetrics-source-topic"] == rig.topic.encode()
        _, value, reason = sources.pop(letter_source(letter))
        if value is not None and len(value) > 900_000:  # only the head is kept
            assert headers[TRUNCATED_HEADER] == f"key=6,value={len(value)},headers=0".encode()
            assert len(letter.value) > 950_000
            value = value[: len(letter.value)]
        assert letter.value == value
        assert _record(letter).size <= 960_000
        assert letter.key == b"exec-a"
        assert reason in headers["stepmetrics-reason"].decode()
    assert sources == {}
    assert "dead-lettered" in worker.log()


def _record(letter: Any) -> LetterRecord:
    return LetterRecord(letter.key, letter.value, list(letter.headers))


async def test_redis_restart_mid_stream_loses_nothing(
    broker: ManagedProcess,
    redis_factory: Callable[[], ManagedProcess],
    redis_keys: RedisKeys,
    topic: str,
    spawn: Spawn,
) -> None:
    redis = redis_factory()  # private: this test restarts it
    port = int(redis.address.rsplit(":", 1)[1].split("/")[0])
    workdir = redis.log_path.parent.parent
    private = RedisTarget(redis.address, cluster=False)
    client = private.client()
    envelopes = make_envelopes("p1", EXECUTIONS, count=240, events_per=30, seed=7)
    worker = spawn(worker_env(broker.address, topic, private, redis_keys.prefix, topic), "w")
    await worker.start()
    stream = asyncio.create_task(produce(broker.address, topic, envelopes, pause=0.05))

    async def applied(at_least: int) -> bool:
        return (await read_stats(client, redis_keys))["envelopes_applied"] >= at_least

    restarted: ManagedProcess | None = None
    try:
        await wait_for(lambda: applied(40), 30, "40 envelopes applied")
        await client.aclose()
        redis.stop()  # SIGTERM: redis writes its AOF and exits
        await asyncio.sleep(1.0)  # the worker keeps consuming and must retry meanwhile
        restarted = await asyncio.to_thread(start_redis, workdir, port)
        client = private.client()
        await stream
        await wait_for(lambda: applied(len(envelopes)), 60, "all envelopes applied")
        assert await worker.stop() == 0
        assert "write failed, retrying" in worker.log()
        stats = await read_stats(client, redis_keys)
        assert stats["envelopes_applied"] == len(envelopes)
        expected = expected_state(envelopes)
        assert await actual_state(client, redis_keys, EXECUTIONS) == expected
    finally:
        await client.aclose()
        if restarted is not None:
            restarted.stop()


async def _committed_total(bootstrap: str, topic: str, group: str) -> int:
    """Sum of the group's committed offsets over the topic's partitions."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group)
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        if not partitions:
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(topic) or set()
        offsets = [await consumer.committed(TopicPartition(topic, p)) for p in partitions]
    finally:
        await consumer.stop()
    assert len(offsets) == 4
    return sum(offset or 0 for offset in offsets)


async def test_the_worker_needs_no_topic_but_its_own_two(
    broker: ManagedProcess, topic: str, env: dict[str, str], spawn: Spawn
) -> None:
    # Managed Kafka rarely grants Create: the worker must not declare faust's
    # leader-election topic (it uses no leader-only feature), only the metrics
    # topic and its dead-letter topic (docs/deployment.md, Kafka ACLs).
    worker = spawn(env, "worker")
    await worker.start()
    admin = AIOKafkaAdminClient(bootstrap_servers=broker.address)
    await admin.start()
    try:
        names = set(await admin.list_topics())
    finally:
        await admin.close()
    await worker.stop()
    assert {topic, topic + ".deadletter"} <= names
    assert not {name for name in names if name.startswith(topic + "-")}, names
