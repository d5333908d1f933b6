"""The reader API in this process: the app with its lifespan run, and HTTP clients to it."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Final

import httpx
from starlette.applications import Starlette
from starlette.routing import BaseRoute

from stepmetrics.store.api import create_app
from stepmetrics.store.settings import ApiSettings, StoreSettings
from tests.support.redis_targets import RedisTarget

BASE_URL: Final = "http://api"
API_TOKEN: Final = "test-token-0123456789"  # noqa: S105 (the in-process API's token)
ADMIN_TOKEN: Final = "test-admin-token-0123456789"  # noqa: S105 (its admin token, when on)


@contextlib.asynccontextmanager
async def running_api(
    redis: RedisTarget,
    prefix: str,
    token: str,
    extra_routes: Sequence[BaseRoute] = (),
    admin_token: str = "",
) -> AsyncIterator[Starlette]:
    """The reader API on `redis` under key `prefix`, inside its lifespan
    (deleting on when `admin_token` is given)."""
    store = StoreSettings(redis=redis.connection, redis_prefix=prefix)
    settings = ApiSettings(token=token, store=store, admin_token=admin_token)
    application = create_app(settings, extra_routes)
    async with application.router.lifespan_context(application):
        yield application


def api_client(app: Starlette, token: str | None = None) -> httpx.AsyncClient:
    """An HTTP client to `app` in process; with `token` it sends it as the bearer."""
    headers = {"authorization": f"Bearer {token}"} if token else {}
    transport = httpx.ASGITransport(app=app)
    return httpx.AsyncClient(transport=transport, base_url=BASE_URL, headers=headers)
