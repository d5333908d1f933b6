"""The real worker (subprocess) and a real broker with deletion and retention:
a deleted execution stays deleted through a late envelope and through a replay
of the whole topic by a new consumer group, other executions are untouched, and
the worker's retention deletes an old execution but not a fresh one."""

from __future__ import annotations

import time

from stepmetrics.producers.events import Envelope, WireEvent
from stepmetrics.stack.services import ManagedProcess
from stepmetrics.store.connection import RedisClient
from stepmetrics.store.keys import RedisKeys
from stepmetrics.store.lifecycle import Deleter
from stepmetrics.store.stats import read_stats
from tests.integration.conftest import Spawn
from tests.support.metrics_state import snapshot
from tests.support.worker import T, produce, wait_for


def envelopes(eid: str, count: int, ts: int, first_seq: int = 0) -> list[Envelope]:
    made = []
    for seq in range(first_seq, first_seq + count):
        events: list[WireEvent] = [("s", "acc", ts + seq, seq / 10), ("l", "loss", ts + seq, [seq])]
        made.append(Envelope("p1", seq, eid, "train", "dep", events))
    return made


async def test_deleted_stays_deleted_through_late_envelopes_replay_and_retention(
    broker: ManagedProcess,
    topic: str,
    env: dict[str, str],
    spawn: Spawn,
    redis_client: RedisClient,
    redis_keys: RedisKeys,
) -> None:
    now = time.time_ns() // 1000
    gone, kept, old = envelopes("gone", 6, now), envelopes("kept", 5, now), envelopes("old", 3, T)

    async def stats() -> dict[str, int]:
        return await read_stats(redis_client, redis_keys)

    async def counted(**want: int) -> bool:
        current = await stats()
        return all(current[name] >= count for name, count in want.items())

    async def replayed() -> bool:
        # Every one of the 15 records again (the retention may delete "old"
        # before or after its records come round: skipped as deleted, or as duplicates).
        current = await stats()
        skipped = current["duplicates_skipped"] + current["envelopes_skipped_deleted"]
        return skipped >= 1 + 15 and current["executions_expired"] >= 1

    first = spawn(env, "w1")
    await first.start()
    await produce(broker.address, topic, gone + kept + old)
    await wait_for(lambda: counted(envelopes_applied=14), 60, "every envelope applied")
    reply = await Deleter.create(redis_client, redis_keys, 3600).delete("gone")
    assert reply.status == "deleted"

    # A late envelope of the deleted execution: counted, not applied.
    await produce(broker.address, topic, envelopes("gone", 1, now, first_seq=6))
    await wait_for(lambda: counted(envelopes_skipped_deleted=1), 30, "the late envelope")
    assert await first.stop() == 0
    assert await redis_client.exists(redis_keys.meta("gone")) == 0
    kept_before = await _keys_of(redis_client, redis_keys, "kept")

    # A new consumer group replays the whole topic, with retention on (1 day).
    replay_env = {
        **env,
        "STEPMETRICS_WORKER_GROUP": f"{topic}-replay",
        "STEPMETRICS_RETENTION_DAYS": "1",
        "STEPMETRICS_RETENTION_INTERVAL": "0.5",
    }
    replay = spawn(replay_env, "w2")
    await replay.start()
    await wait_for(replayed, 60, "the replay and a retention round")
    assert await replay.stop() == 0

    final = await stats()
    assert final["envelopes_applied"] == 14  # the replay applied nothing
    assert final["duplicates_skipped"] + final["envelopes_skipped_deleted"] == 1 + 15
    assert final["duplicates_skipped"] in (5, 5 + 3)  # "kept", and "old" unless expired first
    assert final["executions_expired"] == 1
    assert final["executions_deleted"] == 1
    assert await redis_client.exists(redis_keys.meta("gone"), redis_keys.meta("old")) == 0
    assert await _keys_of(redis_client, redis_keys, "kept") == kept_before
    assert await redis_client.zrange(redis_keys.executions, 0, -1) == [b"kept"]


async def _keys_of(client: RedisClient, keys: RedisKeys, eid: str) -> dict[bytes, object]:
    tag = keys.meta(eid).removesuffix("meta").encode()
    return {k: v for k, v in (await snapshot(client, keys.prefix)).items() if k.startswith(tag)}
