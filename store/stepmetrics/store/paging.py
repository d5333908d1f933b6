"""Shared, I/O-free parts of the query clients: filters, paging, answers."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Final

import httpx
import orjson

from stepmetrics.store.endpoints import (
    COLUMN_KEYS,
    COLUMNS_SHAPE,
    LIST_METRICS_PAGE,
    METRICS_PAGE,
    SHAPE_PARAM,
)

# Re-exported: the clients (and benchmarks) name the paths through this module.
from stepmetrics.store.endpoints import LIST_METRICS_PATH as LIST_METRICS_PATH
from stepmetrics.store.endpoints import METRICS_PATH as METRICS_PATH
from stepmetrics.store.errors import ApiAuthError, ApiError, ApiUnavailableError, StoreQueryError
from stepmetrics.store.settings import ClientSettings
from stepmetrics.store.types import Metric
from stepmetrics.store.wire import from_wire, list_from_wire

# The client asks for the largest pages the API serves.
PAGE_LIMITS: Final = {
    METRICS_PATH: METRICS_PAGE.maximum,
    LIST_METRICS_PATH: LIST_METRICS_PAGE.maximum,
}
# The keys of one metric, in the order the API writes them.
METRIC_COLUMNS: Final = (
    "name",
    "value",
    "created_at",
    "execution_id",
    "deployment_name",
    "pipeline_name",
)
METRIC_KEYS: Final = frozenset(METRIC_COLUMNS)
# Scalar pages are asked for as columns (fewer bytes and no dict per metric on
# the server); the documented dicts are built here.
COMPACT_SHAPES: Final = {METRICS_PATH: COLUMNS_SHAPE}
_GROUP_KEYS: Final = frozenset(COLUMN_KEYS)
# A page without items but with a cursor is legal once in a while (a server
# may cut a page short); this many in a row means it is stuck.
MAX_EMPTY_PAGES: Final = 3


def metric_query(
    name: str | None = None,
    pipeline_name: str | None = None,
    deployment_name: str | None = None,
    execution_id: str | None = None,
) -> dict[str, str]:
    """The query parameters of one filter; raise before any request if more
    than one is set (`ValueError`) or one is not a non-empty str."""
    given = {
        key: value
        for key, value in (
            ("name", name),
            ("pipeline_name", pipeline_name),
            ("deployment_name", deployment_name),
            ("execution_id", execution_id),
        )
        if value is not None
    }
    if len(given) > 1:
        raise StoreQueryError(
            f"only one of name, pipeline_name, deployment_name, execution_id may be set "
            f"at a time, got {len(given)}: {', '.join(f'{k}={v!r}' for k, v in given.items())}"
        )
    for key, value in given.items():
        if not isinstance(value, str):
            raise TypeError(f"{key} must be a str or None, got {type(value).__name__} {value!r}")
        if not value:
            raise StoreQueryError(f"{key} must not be empty; pass None for no filter")
    return given


class Paging:
    """Sans-I/O state of one paged query, shared by the sync and async clients."""

    def __init__(self, base_url: str, path: str, query: dict[str, str]) -> None:
        self.path = path
        self.url = base_url + path
        self.items: list[Metric] = []
        self.more = True
        self._query = {**query, "limit": str(PAGE_LIMITS[path])}
        if path in COMPACT_SHAPES:
            self._query[SHAPE_PARAM] = COMPACT_SHAPES[path]
        self._cursors: set[str] = set()
        self._empty_run = 0

    def params(self) -> dict[str, str]:
        return self._query

    @contextmanager
    def reaching(self) -> Iterator[None]:
        """Around the request: a transport failure becomes `ApiUnavailableError`."""
        try:
            yield
        except httpx.TransportError as exc:
            raise unavailable(self.url, exc) from exc

    def take(self, response: httpx.Response) -> None:
        """Take one answer: a page, or the typed error of a non-200."""
        if response.status_code == 400 and self._unknown_shape(response):
            # A server older than the compact shape: ask again for the documented one.
            del self._query[SHAPE_PARAM]
            return
        self.accept(check_response(response, self.url))

    def _unknown_shape(self, response: httpx.Response) -> bool:
        return (
            SHAPE_PARAM in self._query
            and not self.items
            and f"unknown query parameter {SHAPE_PARAM!r}" in response.text
        )

    def accept(self, body: bytes) -> None:
        """Take one page's JSON body; raise `ApiError` if it is malformed or stuck."""
        items: list[Any]
        try:
            doc = orjson.loads(body)
            cursor = doc["next_cursor"]
            if doc.get("shape") == COLUMNS_SHAPE:
                items = self._from_columns(doc["executions"])
            else:
                items = doc["items"]
                self._check_shape(items)
        except (orjson.JSONDecodeError, TypeError, KeyError, ValueError) as exc:
            raise ApiError(
                f"unexpected answer from {self.url}: {body!r:.200}", url=self.url, status=200
            ) from exc
        self._decode(items)
        self.items.extend(items)
        if cursor is None:
            self.more = False
            return
        self._empty_run = 0 if items else self._empty_run + 1
        if cursor in self._cursors or self._empty_run >= MAX_EMPTY_PAGES:
            raise ApiError(
                f"{self.url} keeps answering the same page (cursor {cursor!r:.60}); "
                "stopped instead of looping",
                url=self.url,
                status=200,
            )
        self._cursors.add(cursor)
        self._query["cursor"] = cursor

    def _from_columns(self, groups: list[dict[str, Any]]) -> list[Any]:
        """The documented dicts of a `columns-v1` page; `ValueError` (or
        `TypeError`, `KeyError`) if it is not one."""
        items: list[dict[str, Any]] = []
        for group in groups:
            if group.keys() != _GROUP_KEYS:
                raise ValueError(f"group keys {sorted(group)!r:.200}")
            eid, pipeline = group["execution_id"], group["pipeline_name"]
            deployment = group["deployment_name"]
            names, values, created = group["names"], group["values"], group["created_at"]
            if not (type(names) is type(values) is type(created) is list):
                raise ValueError("names, values and created_at must be arrays")
            items.extend(
                {
                    "name": name,
                    "value": value,
                    "created_at": at,
                    "execution_id": eid,
                    "deployment_name": deployment,
                    "pipeline_name": pipeline,
                }
                for name, value, at in zip(names, values, created, strict=True)
            )
        return items

    def _check_shape(self, items: list[dict[str, Any]]) -> None:
        # The first item's keys are checked exactly, the others' count and
        # value: enough to catch another shape at a fraction of the cost.
        if not isinstance(items, list) or not all(type(i) is dict for i in items):
            raise ApiError(
                f"unexpected items from {self.url}: {items!r:.200}", url=self.url, status=200
            )
        size = len(METRIC_KEYS)
        bad = next((i for i in items[:1] if i.keys() != METRIC_KEYS), None)
        bad = bad or next((i for i in items if len(i) != size or "value" not in i), None)
        if bad is not None:
            raise ApiError(
                f"unexpected item from {self.url}: {bad!r:.200}", url=self.url, status=200
            )

    def _decode(self, items: list[dict[str, Any]]) -> None:
        """Non-finite names back to floats, in place; refuse a value that is
        neither a number nor such a name."""
        # Each check runs at C speed over a whole page; the per-value pass
        # only runs when some value is not already what it should be.
        try:
            if self.path == LIST_METRICS_PATH:
                for item in items:
                    item["value"] = list_from_wire(item["value"])
            elif set(map(type, [item["value"] for item in items])) - {float}:
                for item in items:
                    if type(item["value"]) is not float:
                        item["value"] = from_wire(item["value"])
        except (StoreQueryError, TypeError, ValueError) as exc:
            raise ApiError(
                f"unexpected value from {self.url}: {exc}", url=self.url, status=200
            ) from exc


def check_response(response: httpx.Response, url: str) -> bytes:
    """The body of a 200 answer; raise the typed error otherwise."""
    if response.status_code == 200:
        return response.content
    try:
        message = orjson.loads(response.content)["error"]
    except (orjson.JSONDecodeError, TypeError, KeyError):
        message = response.text[:200]
    kind = ApiAuthError if response.status_code == 401 else ApiError
    raise kind(
        f"{url} answered {response.status_code}: {message}", url=url, status=response.status_code
    )


def check_deleted(response: httpx.Response, url: str) -> bool:
    """True for 204 (deleted), False for 404 (unknown or deleted before);
    raise the typed error otherwise (403: not the admin token, or deleting off)."""
    if response.status_code == 204:
        return True
    if response.status_code == 404:
        return False
    check_response(response, url)
    raise ApiError(  # a 200 is not an answer DELETE gives
        f"{url} answered {response.status_code} to DELETE", url=url, status=response.status_code
    )


def unavailable(url: str, exc: httpx.TransportError) -> ApiUnavailableError:
    return ApiUnavailableError(
        f"cannot reach the reader API at {url}: {type(exc).__name__}: {exc} "
        "(retriable: a retry may help once the API is up)",
        url=url,
    )


def headers(settings: ClientSettings) -> dict[str, str]:
    return {"authorization": f"Bearer {settings.token}", "accept": "application/json"}
