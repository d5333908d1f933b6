"""Helpers of the spool tests: step processes, `stepmetrics sync`, the worker's result."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import redis.asyncio as aioredis

from stepmetrics.stack.services import ManagedProcess
from stepmetrics.store.keys import RedisKeys
from tests.support.metrics_state import ExecutionState, actual_state
from tests.support.redis_targets import RedisTarget
from tests.support.worker import REPO, WorkerProcess, wait_for, worker_env

EXECUTION = "exec-spool"


def step_env(bootstrap: str, topic: str, spool_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a step (or of `stepmetrics sync`) using `spool_dir`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STEPMETRICS_")}
    env.update(
        STEPMETRICS_KAFKA_BOOTSTRAP=bootstrap,
        STEPMETRICS_TOPIC=topic,
        STEPMETRICS_SPOOL_DIR=str(spool_dir),
        STEPMETRICS_EXECUTION_ID=EXECUTION,
        STEPMETRICS_PIPELINE_NAME="p",
        STEPMETRICS_REQUEST_TIMEOUT_MS="1000",
        STEPMETRICS_RETRY_BACKOFF_MAX="0.5",
        **extra,
    )
    return env


def start_step(script: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    """Run a step script with pipes on stdin, stdout and stderr."""
    return subprocess.Popen(
        [sys.executable, str(script)],
        env=env,
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run_sync(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`stepmetrics sync` in a child process."""
    return subprocess.run(
        [sys.executable, "-m", "stepmetrics.cli", "sync"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=90,
    )


def expected(count: int) -> ExecutionState:
    """What the spool tests' steps record: scalars s{i} = i, list `l` = 0..count-1."""
    return ExecutionState(
        scalars={f"s{i}": repr(float(i)) for i in range(count)},
        lists={"l": [float(i) for i in range(count)]},
    )


@asynccontextmanager
async def worker_for(
    bootstrap: str, topic: str, redis_url: str, keys: RedisKeys, log: Path
) -> AsyncIterator[WorkerProcess]:
    """A real worker applying `topic` under the key prefix of `keys` (one redis-server)."""
    redis = RedisTarget(redis_url, cluster=False)
    worker = WorkerProcess(worker_env(bootstrap, topic, redis, keys.prefix, topic), log)
    await worker.start()
    try:
        yield worker
    finally:
        await worker.ensure_dead()


async def state_once(
    client: aioredis.Redis, keys: RedisKeys, values: int, within: float = 60
) -> ExecutionState:
    """The execution's state once its list holds at least `values` values, and a
    moment later (so that a duplicate, if any were applied, would show)."""

    async def reached() -> bool:
        state = (await actual_state(client, keys, [EXECUTION]))[EXECUTION]
        return len(state.lists.get("l", [])) >= values

    await wait_for(reached, within, f"{values} list values")
    await asyncio.sleep(1.0)
    return (await actual_state(client, keys, [EXECUTION]))[EXECUTION]


@dataclass
class Rig:
    """A broker and topic, a Redis key prefix and a temp dir: what a spool test uses."""

    broker: ManagedProcess
    topic: str
    redis_url: str
    client: aioredis.Redis
    keys: RedisKeys
    tmp_path: Path

    @property
    def spool(self) -> Path:
        return self.tmp_path / "spool"

    def env(self, **extra: str) -> dict[str, str]:
        """A step's environment for this broker, topic and spool."""
        return step_env(self.broker.address, self.topic, self.spool, **extra)

    def worker(self) -> AbstractAsyncContextManager[WorkerProcess]:
        return worker_for(
            self.broker.address, self.topic, self.redis_url, self.keys, self.tmp_path / "w.log"
        )

    async def state(self, values: int) -> ExecutionState:
        return await state_once(self.client, self.keys, values)
