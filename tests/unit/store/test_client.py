"""The query library's guards: filters, broken servers, network failures."""

from __future__ import annotations

import math
import re
from typing import Any

import httpx
import orjson
import pytest

from stepmetrics.stack.services import free_port
from stepmetrics.store.client import AsyncMetricsClient, MetricsClient
from stepmetrics.store.errors import ApiAuthError, ApiError, ApiUnavailableError, StoreError
from stepmetrics.store.settings import ClientSettings
from tests.support.processes import loaded_after_import

TOKEN = "client-unit-token"  # noqa: S105
ITEM = {
    "name": "m",
    "value": 1.0,
    "created_at": "2026-01-01T00:00:00.000000Z",
    "execution_id": "e",
    "deployment_name": None,
    "pipeline_name": "p",
}


def _client(pages: list[Any], seen: list[httpx.Request], status: int = 200) -> MetricsClient:
    """A client whose 'server' answers `pages` in turn (the last one forever)."""

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        page = pages[min(len(seen) - 1, len(pages) - 1)]
        body = page if isinstance(page, bytes) else orjson.dumps(page)
        return httpx.Response(status, content=body)

    settings = ClientSettings(token=TOKEN, api_url="http://api.test")
    return MetricsClient(settings, transport=httpx.MockTransport(answer))


def test_more_than_one_filter_raises_before_any_request() -> None:
    seen: list[httpx.Request] = []
    client = _client([{"items": [], "next_cursor": None}], seen)
    with pytest.raises(ValueError, match="got 2: name='a', execution_id='e'"):
        client.get_metrics(name="a", execution_id="e")
    with pytest.raises(ValueError, match="got 4"):
        client.get_list_metrics("a", "b", "c", "d")
    with pytest.raises(TypeError, match="pipeline_name must be a str"):
        client.get_metrics(pipeline_name=3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="must not be empty"):
        client.get_metrics(name="")
    assert seen == []


def test_pages_are_followed_with_token_and_values_decoded() -> None:
    seen: list[httpx.Request] = []
    pages = [
        {"items": [ITEM], "next_cursor": "c1"},
        {"items": [], "next_cursor": "c2"},  # a short page is legal
        {"items": [{**ITEM, "value": "-Infinity"}], "next_cursor": None},
    ]
    got = _client(pages, seen).get_metrics(name="m")
    assert [m["value"] for m in got] == [1.0, -math.inf]
    assert [r.url.params.get("cursor") for r in seen] == [None, "c1", "c2"]
    assert all(r.url.params["name"] == "m" for r in seen)
    assert seen[0].headers["authorization"] == f"Bearer {TOKEN}"


def test_a_repeating_or_stuck_server_raises_instead_of_looping() -> None:
    with pytest.raises(ApiError, match="keeps answering the same page"):
        _client([{"items": [ITEM], "next_cursor": "same"}], []).get_metrics()
    stuck = [{"items": [], "next_cursor": f"c{i}"} for i in range(10)]
    with pytest.raises(ApiError, match="keeps answering"):
        _client(stuck, []).get_metrics()


@pytest.mark.parametrize(
    "page",
    [
        {"items": [{**ITEM, "extra": 1}], "next_cursor": None},
        {"items": [{k: v for k, v in ITEM.items() if k != "name"}], "next_cursor": None},
        {"nothing": []},
        {
            "items": [ITEM, {**{k: v for k, v in ITEM.items() if k != "value"}, "x": 1}],
            "next_cursor": None,
        },
        b"not json",
        {"items": ["not an object"], "next_cursor": None},
        {"items": {"not": "a list"}, "next_cursor": None},
    ],
)
def test_malformed_answers_raise(page: Any) -> None:
    with pytest.raises(ApiError, match=re.escape("http://api.test/api/v1/metrics")):
        _client([page], []).get_metrics()


@pytest.mark.parametrize("value", [None, "nope", [1.0], {"v": 1}])
def test_a_bad_scalar_value_raises_naming_the_url(value: Any) -> None:
    page = {"items": [ITEM, {**ITEM, "value": value}], "next_cursor": None}
    with pytest.raises(ApiError, match=r"unexpected value from http://api.test/api/v1/metrics"):
        _client([page], []).get_metrics()


@pytest.mark.parametrize("value", [None, 3.0, "nope", [1.0, None], [1.0, "Infinit"]])
def test_a_bad_list_value_raises_naming_the_url(value: Any) -> None:
    page = {"items": [{**ITEM, "value": [1.0, 2.0]}, {**ITEM, "value": value}], "next_cursor": None}
    with pytest.raises(ApiError, match=r"unexpected value from http://api.test/api/v1/list-"):
        _client([page], []).get_list_metrics()


def test_list_values_are_decoded_in_place() -> None:
    page = {"items": [{**ITEM, "value": [1.0, "NaN", "Infinity", 2]}], "next_cursor": None}
    (got,) = _client([page], []).get_list_metrics()
    value = got["value"]
    assert isinstance(value, list)
    assert value[0] == 1.0
    assert math.isnan(value[1])
    assert value[2:] == [math.inf, 2]


def test_error_statuses_are_typed() -> None:
    with pytest.raises(ApiAuthError) as refused:
        _client([{"error": "missing or wrong token"}], [], status=401).get_metrics()
    assert "answered 401: missing or wrong token" in str(refused.value)
    assert not refused.value.retriable
    with pytest.raises(ApiError) as failing:
        _client([{"error": "Redis query failed"}], [], status=503).get_list_metrics()
    assert failing.value.retriable
    assert failing.value.status == 503


def test_network_failure_names_the_url_and_is_retriable() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    client = MetricsClient(ClientSettings(token=TOKEN, api_url=url, timeout=2))
    with pytest.raises(ApiUnavailableError) as caught:
        client.get_metrics(execution_id="e")
    assert isinstance(caught.value, StoreError)
    assert caught.value.retriable
    assert caught.value.url == f"{url}/api/v1/metrics"
    assert url in str(caught.value)


async def test_async_client_network_failure() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    async with AsyncMetricsClient(ClientSettings(token=TOKEN, api_url=url, timeout=2)) as client:
        with pytest.raises(ApiUnavailableError, match="cannot reach the reader API"):
            await client.get_list_metrics()


def test_from_env_reads_url_and_token() -> None:
    environ = {"STEPMETRICS_API_URL": "http://h:9/", "STEPMETRICS_API_TOKEN": TOKEN}
    with MetricsClient.from_env(environ) as client:
        assert client.settings.api_url == "http://h:9"


def test_the_query_library_needs_no_server_side_packages() -> None:
    # A notebook with the base install (orjson, httpx) must be able to query.
    server_side = ("redis", "starlette", "uvicorn", "faust", "aiokafka")
    assert loaded_after_import("stepmetrics.store", server_side) == []


def _columns(*groups: dict[str, Any], cursor: str | None = None) -> dict[str, Any]:
    return {"shape": "columns-v1", "executions": list(groups), "next_cursor": cursor}


GROUP = {
    "execution_id": "e",
    "pipeline_name": "p",
    "deployment_name": None,
    "names": ["a", "b"],
    "values": [1.0, "NaN"],
    "created_at": ["2026-01-01T00:00:00.000000Z", "2026-01-01T00:00:01.000000Z"],
}


def test_scalar_pages_are_asked_as_columns_and_given_back_as_dicts() -> None:
    seen: list[httpx.Request] = []
    pages = [_columns(GROUP, cursor="c1"), _columns({**GROUP, "execution_id": "f"})]
    got = _client(pages, seen).get_metrics(pipeline_name="p")
    assert [r.url.params.get("shape") for r in seen] == ["columns-v1", "columns-v1"]
    assert [(m["execution_id"], m["name"]) for m in got] == [
        ("e", "a"), ("e", "b"), ("f", "a"), ("f", "b"),
    ]  # fmt: skip
    assert got[0] == {**ITEM, "name": "a", "value": 1.0}
    assert math.isnan(got[1]["value"])  # type: ignore[arg-type]
    assert got[1]["created_at"] == "2026-01-01T00:00:01.000000Z"
    # List pages keep the documented shape.
    lists: list[httpx.Request] = []
    _client([{"items": [], "next_cursor": None}], lists).get_list_metrics()
    assert "shape" not in lists[0].url.params


def test_a_server_without_the_shape_is_asked_again_for_items() -> None:
    seen: list[httpx.Request] = []
    refused = {"error": "unknown query parameter 'shape'; allowed: cursor, limit, name"}

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if "shape" in request.url.params:
            return httpx.Response(400, content=orjson.dumps(refused))
        return httpx.Response(200, content=orjson.dumps({"items": [ITEM], "next_cursor": None}))

    settings = ClientSettings(token=TOKEN, api_url="http://api.test")
    assert MetricsClient(settings, transport=httpx.MockTransport(answer)).get_metrics() == [ITEM]
    assert [r.url.params.get("shape") for r in seen] == ["columns-v1", None]


@pytest.mark.parametrize(
    "group",
    [
        {**GROUP, "extra": 1},
        {k: v for k, v in GROUP.items() if k != "names"},
        {**GROUP, "names": ["only one"]},
        {**GROUP, "values": "not an array"},
        {**GROUP, "values": [1.0, "nope"]},
    ],
)
def test_malformed_columns_raise(group: dict[str, Any]) -> None:
    with pytest.raises(ApiError, match=re.escape("http://api.test/api/v1/metrics")):
        _client([_columns(group)], []).get_metrics()
