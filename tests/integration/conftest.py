"""Fixtures of the integration tests: the reader API in this process over the
test's redis-server and key prefix (tests.support.api), with a client to it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette

from stepmetrics.stack.services import ManagedProcess
from stepmetrics.store.keys import RedisKeys
from tests.support.api import API_TOKEN, api_client, running_api


@pytest.fixture
async def app(redis_server: ManagedProcess, redis_keys: RedisKeys) -> AsyncIterator[Starlette]:
    """The reader API (token `API_TOKEN`) over the test's Redis and prefix."""
    async with running_api(redis_server.address, redis_keys.prefix, API_TOKEN) as application:
        yield application


@pytest.fixture
async def http(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client to `app` that sends the token."""
    async with api_client(app, API_TOKEN) as c:
        yield c
