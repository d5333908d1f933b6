"""Fixtures of the browser tests: a whole running stack per module and a Chromium."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
from playwright.async_api import Browser, async_playwright

from stepmetrics.stack.services import ManagedProcess
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS
from tests.support.web_stack import WebStack, start_web_stack


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory, broker: ManagedProcess, redis_server: ManagedProcess
) -> Iterator[WebStack]:
    running = start_web_stack(tmp_path_factory.mktemp("web"), broker.address, redis_server.address)
    yield running
    running.stop()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        await chromium.close()
