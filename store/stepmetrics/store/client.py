"""The query library: `get_metrics` / `get_list_metrics` over the reader API.

    client = MetricsClient.from_env()   # STEPMETRICS_API_URL, STEPMETRICS_API_TOKEN
    client.get_metrics(pipeline_name="my_pipeline")

Behaviour (as documented for `CraftAiSdk.get_metrics`): at most one filter,
else `ValueError` before any request; a list of dicts with exactly the keys
name, value, created_at, execution_id, deployment_name, pipeline_name; NaN and
±inf come back as floats; `created_at` is ISO 8601 UTC with microseconds and a
`Z`. Results are ordered by execution creation time (oldest first), then
execution id, then metric name. Every page is fetched; a server that repeats a
cursor raises instead of looping. Network failures raise `ApiUnavailableError`
(retriable), error answers `ApiError` / `ApiAuthError`.
"""

from __future__ import annotations

import functools
import ipaddress
import os
import ssl
from collections.abc import Mapping
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlsplit

import httpx

from stepmetrics.store.endpoints import execution_path
from stepmetrics.store.errors import StoreQueryError
from stepmetrics.store.paging import (
    LIST_METRICS_PATH,
    METRICS_PATH,
    Paging,
    check_deleted,
    headers,
    metric_query,
    unavailable,
)
from stepmetrics.store.settings import ClientSettings
from stepmetrics.store.types import Metric


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    # Loading the CA bundle costs ~40 ms; httpx would do it for every client,
    # even for http:// URLs. One verifying context serves the whole process.
    return httpx.create_ssl_context()


def is_loopback(url: str) -> bool:
    """True if `url` names this machine: `localhost`, 127.0.0.0/8 or ::1."""
    host = (urlsplit(url).hostname or "").rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _BaseClient:
    """What both clients share: settings, connection options, one query's paging."""

    def __init__(self, settings: ClientSettings) -> None:
        self.settings = settings

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> Self:
        """A client for `STEPMETRICS_API_URL` with `STEPMETRICS_API_TOKEN`."""
        return cls(ClientSettings.from_env(environ))

    def _http_options(self) -> dict[str, Any]:
        settings = self.settings
        return {
            "base_url": settings.api_url,
            "headers": headers(settings),
            "timeout": settings.timeout,
            "verify": _ssl_context(),
            # httpx sends even loopback requests through HTTP(S)_PROXY unless
            # NO_PROXY covers them: the proxy would see the bearer token.
            "trust_env": not is_loopback(settings.api_url),
        }

    def _paging(self, path: str, filters: tuple[str | None, ...]) -> Paging:
        """Raises `ValueError` / `TypeError` before any request for bad filters."""
        return Paging(self.settings.api_url, path, metric_query(*filters))

    def _delete_path(self, execution_id: str) -> str:
        if not isinstance(execution_id, str) or not execution_id:
            raise StoreQueryError(
                f"execution_id must be a non-empty str, got {execution_id!r:.100}"
            )
        return execution_path(execution_id)


class MetricsClient(_BaseClient):
    """Synchronous query client (httpx, one keep-alive connection pool).

    Args:
        settings: API URL, token and timeout (`ClientSettings.from_env()`).
        transport: an httpx transport to use instead of the network (tests).
    """

    def __init__(
        self, settings: ClientSettings, *, transport: httpx.BaseTransport | None = None
    ) -> None:
        super().__init__(settings)
        self._http = httpx.Client(transport=transport, **self._http_options())

    def get_metrics(
        self,
        name: str | None = None,
        pipeline_name: str | None = None,
        deployment_name: str | None = None,
        execution_id: str | None = None,
    ) -> list[Metric]:
        """Scalar metrics matching at most one filter (all pages)."""
        filters = (name, pipeline_name, deployment_name, execution_id)
        return self._collect(self._paging(METRICS_PATH, filters))

    def get_list_metrics(
        self,
        name: str | None = None,
        pipeline_name: str | None = None,
        deployment_name: str | None = None,
        execution_id: str | None = None,
    ) -> list[Metric]:
        """List metrics (value: the list of numbers, in order) matching at most
        one filter (all pages)."""
        filters = (name, pipeline_name, deployment_name, execution_id)
        return self._collect(self._paging(LIST_METRICS_PATH, filters))

    def delete_execution(self, execution_id: str) -> bool:
        """Delete one execution (needs the admin token: `ClientSettings.admin_from_env`).

        Returns True when it was deleted, False when the API does not know it
        (or it was deleted before). Raises `ApiError` (status 403) when the
        token may only read or deleting is off.
        """
        path = self._delete_path(execution_id)
        url = self.settings.api_url + path
        try:
            response = self._http.delete(path)
        except httpx.TransportError as exc:
            raise unavailable(url, exc) from exc
        return check_deleted(response, url)

    def _collect(self, paging: Paging) -> list[Metric]:
        while paging.more:
            with paging.reaching():
                response = self._http.get(paging.path, params=paging.params())
            paging.take(response)
        return paging.items

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> MetricsClient:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class AsyncMetricsClient(_BaseClient):
    """Asynchronous twin of `MetricsClient` (httpx.AsyncClient); same methods,
    awaited; close with `await client.aclose()` or `async with`."""

    def __init__(
        self, settings: ClientSettings, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        super().__init__(settings)
        self._http = httpx.AsyncClient(transport=transport, **self._http_options())

    async def get_metrics(
        self,
        name: str | None = None,
        pipeline_name: str | None = None,
        deployment_name: str | None = None,
        execution_id: str | None = None,
    ) -> list[Metric]:
        """Scalar metrics matching at most one filter (all pages)."""
        filters = (name, pipeline_name, deployment_name, execution_id)
        return await self._collect(self._paging(METRICS_PATH, filters))

    async def get_list_metrics(
        self,
        name: str | None = None,
        pipeline_name: str | None = None,
        deployment_name: str | None = None,
        execution_id: str | None = None,
    ) -> list[Metric]:
        """List metrics matching at most one filter (all pages)."""
        filters = (name, pipeline_name, deployment_name, execution_id)
        return await self._collect(self._paging(LIST_METRICS_PATH, filters))

    async def delete_execution(self, execution_id: str) -> bool:
        """Delete one execution; see `MetricsClient.delete_execution`."""
        path = self._delete_path(execution_id)
        url = self.settings.api_url + path
        try:
            response = await self._http.delete(path)
        except httpx.TransportError as exc:
            raise unavailable(url, exc) from exc
        return check_deleted(response, url)

    async def _collect(self, paging: Paging) -> list[Metric]:
        while paging.more:
            with paging.reaching():
                response = await self._http.get(paging.path, params=paging.params())
            paging.take(response)
        return paging.items

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncMetricsClient:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
