"""ACL users with least privilege on a real Redis Cluster.

The session's 3-master cluster gets two ACL users on every node (`ACL SETUSER`
through the default user, as an operator would on each primary): the worker's,
with `WRITER_ACL_COMMANDS` + `CLUSTER_ACL_COMMANDS`, and the reader API's, with
`READER_ACL_COMMANDS` + `CLUSTER_ACL_COMMANDS`, each limited to the test's
prefix. The real worker process writes through the first, the reader API reads
through the second, in cluster mode.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import NoPermissionError

from stepmetrics.processors.writes.writer import WRITER_ACL_COMMANDS
from stepmetrics.stack.services import LOOPBACK, ManagedProcess
from stepmetrics.store.connection import CLUSTER_ACL_COMMANDS
from stepmetrics.store.keys import RedisKeys
from stepmetrics.store.reader import READER_ACL_COMMANDS
from stepmetrics.store.stats import read_stats
from tests.support.api import api_client, running_api
from tests.support.metrics_state import actual_state, expected_state
from tests.support.redis_targets import RedisTarget
from tests.support.worker import WorkerProcess, make_envelopes, produce, wait_for, worker_env

EXECUTIONS = ["acl-a", "acl-b", "acl-c", "acl-d"]
TOKEN = "cluster-acl-token-0123456789"  # noqa: S105 (a test token)


async def _node_ports(cluster: RedisTarget) -> list[int]:
    client = cluster.client()
    assert isinstance(client, RedisCluster)
    try:
        await client.initialize()
        return sorted(int(node.port) for node in client.get_nodes())
    finally:
        await client.aclose()


@pytest.fixture
async def users(
    redis_cluster: RedisTarget, unique_name: str
) -> AsyncIterator[dict[str, RedisTarget]]:
    """A worker and a reader user on every node; their cluster targets."""
    host = urlsplit(redis_cluster.url).hostname or LOOPBACK
    passwords = {role: secrets.token_urlsafe(16) for role in ("writer", "reader")}
    commands = {"writer": WRITER_ACL_COMMANDS, "reader": READER_ACL_COMMANDS}
    names = {role: f"{role}-{unique_name}" for role in passwords}
    ports = await _node_ports(redis_cluster)
    for port in ports:
        async with aioredis.Redis(host=host, port=port) as node:
            for role, name in names.items():
                await node.acl_setuser(
                    name,
                    enabled=True,
                    reset=True,
                    passwords=[f"+{passwords[role]}"],
                    keys=[f"{unique_name}:*"],
                    reset_channels=True,
                    commands=[*commands[role], *CLUSTER_ACL_COMMANDS],
                )
    yield {
        role: RedisTarget(f"redis://{names[role]}:{passwords[role]}@{host}:{ports[0]}/0", True)
        for role in names
    }
    for port in ports:
        async with aioredis.Redis(host=host, port=port) as node:
            await node.acl_deluser(*names.values())


async def test_worker_and_reader_api_with_least_privilege_on_a_cluster(
    broker: ManagedProcess,
    topic: str,
    redis_cluster: RedisTarget,
    users: dict[str, RedisTarget],
    unique_name: str,
    tmp_path: Path,
) -> None:
    keys = RedisKeys(unique_name)
    worker = WorkerProcess(
        worker_env(broker.address, topic, users["writer"], unique_name, topic),
        tmp_path / "worker.log",
    )
    await worker.start()
    admin = redis_cluster.client()
    try:
        envelopes = make_envelopes("p1", EXECUTIONS, count=40, events_per=10, seed=5)
        await produce(broker.address, topic, envelopes)

        async def applied() -> bool:
            return (await read_stats(admin, keys))["envelopes_applied"] >= len(envelopes)

        await wait_for(applied, 60, "every envelope applied by the writer user")
        assert await actual_state(admin, keys, EXECUTIONS) == expected_state(envelopes)
        assert await worker.stop() == 0
        assert "NOPERM" not in worker.log()
        async with (
            running_api(users["reader"], unique_name, TOKEN) as app,
            api_client(app, TOKEN) as http,
        ):
            assert (await http.get("/readyz")).status_code == 200
            for execution in EXECUTIONS:
                answer = await http.get(f"/api/v1/metrics?execution_id={execution}")
                assert answer.status_code == 200, answer.text
                assert answer.json()["items"]
    finally:
        await worker.stop()
        await admin.aclose()


async def test_the_cluster_reader_cannot_write(
    users: dict[str, RedisTarget], unique_name: str
) -> None:
    keys = RedisKeys(unique_name)
    client = users["reader"].client()
    try:
        await client.hgetall(keys.stats)
        for call in (client.hset(keys.stats, "lag", 1), client.delete(keys.meta("acl-a"))):
            with pytest.raises(NoPermissionError):
                await call
    finally:
        await client.aclose()
