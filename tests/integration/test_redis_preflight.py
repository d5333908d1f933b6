"""The worker and the reader API refuse, at start, a Redis Cluster node that
their settings treat as a single server (it would answer MOVED for most keys),
and start against the same node in cluster mode or against a single server."""

from __future__ import annotations

import subprocess
import sys

import pytest

from stepmetrics.cli.exit_codes import EXIT_USAGE
from stepmetrics.stack.services import ManagedProcess
from stepmetrics.store.connection import REDIS_CLUSTER, REDIS_URL, RedisConnection
from stepmetrics.store.errors import StoreSettingsError
from stepmetrics.store.keys import RedisKeys
from stepmetrics.store.preflight import PROBES, check_redis_mode, probe_tags
from stepmetrics.store.settings import API_TOKEN
from tests.support.redis_targets import RedisTarget
from tests.support.worker import REPO, run_worker, worker_env


def test_probe_tags_spread_over_the_slot_range() -> None:
    from redis.crc import key_slot

    parts = {key_slot(tag.encode()) * PROBES // 16_384 for tag in probe_tags()}
    assert parts == set(range(PROBES))


async def test_a_cluster_node_as_a_single_server_is_refused(redis_cluster: RedisTarget) -> None:
    wrong = RedisConnection(redis_cluster.url, cluster=False)
    client = wrong.connect(timeout=5)
    try:
        with pytest.raises(StoreSettingsError, match=f"{REDIS_CLUSTER.name}=true"):
            await check_redis_mode(client, wrong, RedisKeys())
    finally:
        await client.aclose()


async def test_a_single_server_and_a_cluster_in_cluster_mode_pass(
    redis_target: RedisTarget, redis_cluster: RedisTarget
) -> None:
    for target in (redis_target, redis_cluster):
        client = target.connection.connect(timeout=5)
        try:
            await check_redis_mode(client, target.connection, RedisKeys())
        finally:
            await client.aclose()


def test_the_worker_refuses_to_start(
    redis_cluster: RedisTarget, broker: ManagedProcess, topic: str, unique_name: str
) -> None:
    env = worker_env(broker.address, topic, redis_cluster, unique_name, unique_name)
    env[REDIS_CLUSTER.name] = "false"
    done = run_worker(env)
    assert done.returncode == EXIT_USAGE, done.stderr[-2000:]
    assert "is a Redis Cluster node" in done.stderr
    assert f"{REDIS_CLUSTER.name}=true" in done.stderr


def test_the_reader_api_refuses_to_start(redis_cluster: RedisTarget) -> None:
    env = {"PATH": "/usr/bin:/bin", REDIS_URL.name: redis_cluster.url, API_TOKEN.name: "t" * 32}
    done = subprocess.run(
        [sys.executable, "-m", "stepmetrics.cli.api", "--port", "0"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == EXIT_USAGE, done.stderr[-2000:]
    assert "is a Redis Cluster node" in done.stderr
