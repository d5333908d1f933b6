"""Fixtures of the tests that run the real worker process."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from stepmetrics.stack.services import ManagedProcess
from stepmetrics.store.keys import RedisKeys
from tests.support.worker import WorkerProcess, worker_env

Spawn = Callable[[dict[str, str], str], WorkerProcess]


@pytest.fixture
async def spawn(tmp_path: Path) -> AsyncIterator[Spawn]:
    """Make worker processes (logs in tmp_path); kill leftovers at teardown."""
    started: list[WorkerProcess] = []

    def make(env: dict[str, str], name: str) -> WorkerProcess:
        worker = WorkerProcess(env, tmp_path / f"{name}.log")
        started.append(worker)
        return worker

    yield make
    for worker in started:
        await worker.ensure_dead()


@pytest.fixture
def env(
    broker: ManagedProcess, redis_server: ManagedProcess, redis_keys: RedisKeys, topic: str
) -> dict[str, str]:
    """A worker's environment: the test's topic and key prefix, the topic as its group."""
    return worker_env(broker.address, topic, redis_server.address, redis_keys.prefix, topic)
