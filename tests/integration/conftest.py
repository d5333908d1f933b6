"""Fixtures of the integration tests: the spool tests' `Rig`; the reader API
in this process over the test's redis-server and key prefix (tests.support.api) with a client to it,
and worker processes on the test's topic and prefix (tests.support.worker), and
for the browser tests a whole running stack and a Chromium."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis
from playwright.async_api import Browser, async_playwright
from starlette.applications import Starlette

from stepmetrics.stack.services import ManagedProcess
from stepmetrics.store.keys import RedisKeys
from tests.support.api import API_TOKEN, api_client, running_api
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS
from tests.support.redis_targets import RedisTarget
from tests.support.spool import Rig
from tests.support.web_stack import WebStack, start_web_stack
from tests.support.worker import WorkerProcess, worker_env

Spawn = Callable[[dict[str, str], str], WorkerProcess]


@pytest.fixture
async def rig(
    broker: ManagedProcess,
    topic: str,
    redis_server: ManagedProcess,
    redis_client: aioredis.Redis,
    redis_keys: RedisKeys,
    tmp_path: Path,
) -> Rig:
    """The shared broker and a fresh topic."""
    return Rig(broker, topic, redis_server.address, redis_client, redis_keys, tmp_path)


@pytest.fixture
async def app(redis_target: RedisTarget, redis_keys: RedisKeys) -> AsyncIterator[Starlette]:
    """The reader API (token `API_TOKEN`) over the test's Redis and prefix."""
    async with running_api(redis_target, redis_keys.prefix, API_TOKEN) as application:
        yield application


@pytest.fixture
async def http(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client to `app` that sends the token."""
    async with api_client(app, API_TOKEN) as c:
        yield c


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
    broker: ManagedProcess, redis_target: RedisTarget, redis_keys: RedisKeys, topic: str
) -> dict[str, str]:
    """A worker's environment: the test's topic and key prefix, the topic as its group."""
    return worker_env(broker.address, topic, redis_target, redis_keys.prefix, topic)


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory, broker: ManagedProcess, redis_target: RedisTarget
) -> Iterator[WebStack]:
    """A whole running stack (worker and API processes) for the browser tests."""
    running = start_web_stack(tmp_path_factory.mktemp("web"), broker.address, redis_target)
    yield running
    running.stop()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """A headless Chromium (Debian's)."""
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        await chromium.close()
