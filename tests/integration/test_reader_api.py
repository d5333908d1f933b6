"""The reader API in-process (httpx ASGI transport) over a real redis-server."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from redis.asyncio.cluster import RedisCluster
from starlette.applications import Starlette
from starlette.routing import Mount

from stepmetrics.processors.writes.limits import WriteLimits
from stepmetrics.processors.writes.writer import MetricsWriter
from stepmetrics.producers.events import Envelope, WireEvent
from stepmetrics.store.api import create_app, session_cookie_value
from stepmetrics.store.client import AsyncMetricsClient
from stepmetrics.store.connection import RedisClient, RedisConnection
from stepmetrics.store.keys import RedisKeys
from stepmetrics.store.settings import ApiSettings, ClientSettings, StoreSettings
from stepmetrics.store.slices import SLICE
from tests.support.api import API_TOKEN as TOKEN
from tests.support.redis_targets import BOTH_REDIS_MODES, RedisTarget
from tests.support.seed import seed_execution

# The documented examples and every filter, on one redis-server and on a cluster.
pytestmark = BOTH_REDIS_MODES

T0 = 1_764_000_000_000_000  # 2025-11-24T16:00:00Z in µs
LOGX = [math.log(i) for i in range(1, 50)]


@pytest.fixture
async def client(app: Starlette) -> AsyncIterator[AsyncMetricsClient]:
    settings = ClientSettings(token=TOKEN, api_url="http://api")
    async with AsyncMetricsClient(settings, transport=httpx.ASGITransport(app=app)) as c:
        yield c


@pytest.fixture
async def seeded(redis_client: RedisClient, redis_keys: RedisKeys) -> None:
    """The documented examples in e-1, non-finite values in e-2, another pipeline in e-3."""
    await seed_execution(
        redis_client, redis_keys, "e-1", pipeline_name="my_pipeline",
        deployment_name="my_deployment", created_us=T0,
        scalars={"accuracy": 0.1409, "loss": 1 / 3},
        lists={"accuracy_list": [0.89, 0.92, 0.95], "loss_list": [1.4, 1.2, 1.1, 1.0],
               "logx": LOGX},
    )  # fmt: skip
    await seed_execution(
        redis_client, redis_keys, "e-2", pipeline_name="my_pipeline", created_us=T0 + 1_000_000,
        scalars={"accuracy": (0.5, T0 + 1_500_000), "nan": math.nan, "pinf": math.inf,
                 "ninf": -math.inf},
        lists={"accuracy_list": [1.0, math.nan, math.inf, -math.inf]},
    )  # fmt: skip
    await seed_execution(
        redis_client, redis_keys, "e-3", pipeline_name="other", deployment_name="other_dep",
        created_us=T0 + 2_000_000, scalars={"loss": 2.0},
    )  # fmt: skip


def _names(items: list[Any]) -> list[tuple[str, str]]:
    return [(m["execution_id"], m["name"]) for m in items]


@pytest.mark.usefixtures("seeded")
async def test_each_filter_returns_exact_scalars(client: AsyncMetricsClient) -> None:
    everything = await client.get_metrics()
    assert _names(everything) == [
        ("e-1", "accuracy"), ("e-1", "loss"),
        ("e-2", "accuracy"), ("e-2", "nan"), ("e-2", "ninf"), ("e-2", "pinf"),
        ("e-3", "loss"),
    ]  # fmt: skip
    assert everything[0] == {
        "name": "accuracy",
        "value": 0.1409,
        "created_at": "2025-11-24T16:00:00.000000Z",
        "execution_id": "e-1",
        "deployment_name": "my_deployment",
        "pipeline_name": "my_pipeline",
    }
    assert everything[1]["value"] == 1 / 3
    assert everything[2]["created_at"] == "2025-11-24T16:00:01.500000Z"
    assert _names(await client.get_metrics(name="loss")) == [("e-1", "loss"), ("e-3", "loss")]
    by_pipeline = await client.get_metrics(pipeline_name="my_pipeline")
    assert _names(by_pipeline) == _names(everything)[:6]
    assert _names(await client.get_metrics(deployment_name="other_dep")) == [("e-3", "loss")]
    assert _names(await client.get_metrics(execution_id="e-2")) == _names(everything)[2:6]
    assert await client.get_metrics(execution_id="unknown") == []
    assert await client.get_metrics(name="unknown") == []


@pytest.mark.usefixtures("seeded")
async def test_each_filter_returns_exact_lists(client: AsyncMetricsClient) -> None:
    everything = await client.get_list_metrics()
    assert _names(everything) == [
        ("e-1", "accuracy_list"), ("e-1", "logx"), ("e-1", "loss_list"), ("e-2", "accuracy_list"),
    ]  # fmt: skip
    assert everything[0] == {
        "name": "accuracy_list",
        "value": [0.89, 0.92, 0.95],
        "created_at": "2025-11-24T16:00:00.001000Z",
        "execution_id": "e-1",
        "deployment_name": "my_deployment",
        "pipeline_name": "my_pipeline",
    }
    assert everything[1]["value"] == LOGX
    assert everything[2]["value"] == [1.4, 1.2, 1.1, 1.0]
    by_name = await client.get_list_metrics(name="accuracy_list")
    assert _names(by_name) == [("e-1", "accuracy_list"), ("e-2", "accuracy_list")]
    assert _names(await client.get_list_metrics(pipeline_name="my_pipeline")) == _names(everything)
    assert (
        _names(await client.get_list_metrics(deployment_name="my_deployment"))
        == _names(everything)[:3]
    )
    assert _names(await client.get_list_metrics(execution_id="e-2")) == [("e-2", "accuracy_list")]
    assert await client.get_list_metrics(pipeline_name="other") == []


@pytest.mark.usefixtures("seeded")
async def test_non_finite_values_round_trip(
    client: AsyncMetricsClient, http: httpx.AsyncClient
) -> None:
    scalars = {m["name"]: m["value"] for m in await client.get_metrics(execution_id="e-2")}
    assert math.isnan(scalars["nan"])  # type: ignore[arg-type]
    assert scalars["pinf"] == math.inf
    assert scalars["ninf"] == -math.inf
    (listed,) = await client.get_list_metrics(execution_id="e-2")
    values = listed["value"]
    assert isinstance(values, list)
    assert values[0] == 1.0
    assert math.isnan(values[1])
    assert values[2:] == [math.inf, -math.inf]
    raw = (await http.get("/api/v1/list-metrics", params={"execution_id": "e-2"})).json()
    assert raw["items"][0]["value"] == [1.0, "NaN", "Infinity", "-Infinity"]


@pytest.mark.usefixtures("seeded")
async def test_more_than_one_filter_is_refused(
    client: AsyncMetricsClient, http: httpx.AsyncClient
) -> None:
    with pytest.raises(ValueError, match="only one of"):
        await client.get_metrics(name="loss", pipeline_name="my_pipeline")
    with pytest.raises(ValueError, match="only one of"):
        await client.get_list_metrics(deployment_name="d", execution_id="e")
    for path in ("/api/v1/metrics", "/api/v1/list-metrics"):
        answer = await http.get(path, params={"name": "loss", "execution_id": "e-1"})
        assert answer.status_code == 400
        assert answer.json() == {
            "error": "at most one filter may be given, got 2: name, execution_id"
        }


@pytest.mark.parametrize(
    ("query", "fragment"),
    [
        ({"limit": "0"}, "limit='0' is not allowed"),
        ({"limit": "x"}, "limit='x' is not allowed"),
        ({"limit": "+5"}, "limit='+5' is not allowed: an integer 1..10000"),
        ({"limit": " 5"}, "limit=' 5' is not allowed"),
        ({"limit": "1_0"}, "limit='1_0' is not allowed"),
        ({"cursor": "garbage"}, "cursor 'garbage' is not valid"),
        ({"pipeline": "p"}, "unknown query parameter 'pipeline'"),
        ({"name": ""}, "query parameter 'name' must be 1..1024 characters"),
    ],
)
async def test_bad_parameters_are_400(
    http: httpx.AsyncClient, query: dict[str, str], fragment: str
) -> None:
    answer = await http.get("/api/v1/metrics", params=query)
    assert answer.status_code == 400
    assert fragment in answer.json()["error"]


DATA_PATHS = [
    "/api/v1/metrics",
    "/api/v1/list-metrics",
    "/api/v1/executions",
    "/api/v1/executions/e-1",
    "/api/v1/executions/e-1/metrics.csv",
    "/api/v1/executions/e-1/list-metrics/logx",
    "/api/v1/stats",
]


@pytest.mark.usefixtures("seeded")
@pytest.mark.parametrize("path", DATA_PATHS)
async def test_every_data_endpoint_needs_the_token(app: Starlette, path: str) -> None:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as anonymous:
        refused: list[dict[str, str]] = [
            {},
            {"authorization": "Bearer wrong-token-000000"},
            {"authorization": TOKEN},
            {"cookie": "stepmetrics_session=nope"},
        ]
        for headers in refused:
            answer = await anonymous.get(path, headers=headers)
            assert answer.status_code == 401, headers
            assert "missing or wrong token" in answer.json()["error"]
        good = await anonymous.get(path, headers={"authorization": f"Bearer {TOKEN}"})
        assert good.status_code == 200
        cookie = f"other=1; stepmetrics_session={session_cookie_value(TOKEN)}"
        assert (await anonymous.get(path, headers={"cookie": cookie})).status_code == 200


@pytest.mark.usefixtures("seeded")
@pytest.mark.parametrize("path", DATA_PATHS)
async def test_the_token_is_needed_under_a_root_path_too(app: Starlette, path: str) -> None:
    # Mounted under a prefix (a Starlette Mount, uvicorn --root-path), the
    # request path keeps the prefix while the router matches without it.
    outer = Starlette(routes=[Mount("/metrics", app=app)])
    transport = httpx.ASGITransport(app=outer)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as anonymous:
        assert (await anonymous.get(f"/metrics{path}")).status_code == 401
        good = await anonymous.get(f"/metrics{path}", headers={"authorization": f"Bearer {TOKEN}"})
        assert good.status_code == 200


async def test_health_and_openapi_need_no_token(app: Starlette) -> None:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as anonymous:
        assert (await anonymous.get("/healthz")).json() == {"status": "ok"}
        assert (await anonymous.get("/readyz")).json() == {"status": "ready"}
        document = (await anonymous.get("/openapi.json")).json()
    assert document["openapi"].startswith("3.")
    assert set(document["paths"]) >= {p.replace("e-1", "{execution_id}") for p in DATA_PATHS[:4]}
    assert "/api/v1/executions/{execution_id}/metrics.csv" in document["paths"]
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


async def test_readyz_is_503_when_redis_is_away(redis_target: RedisTarget) -> None:
    from stepmetrics.stack.services import free_port

    away = RedisConnection(f"redis://127.0.0.1:{free_port()}/0", cluster=redis_target.cluster)
    store = StoreSettings(redis=away)
    application = create_app(ApiSettings(token=TOKEN, store=store))
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        headers = {"authorization": f"Bearer {TOKEN}"}
        async with httpx.AsyncClient(
            transport=transport, base_url="http://a", headers=headers
        ) as c:
            assert (await c.get("/readyz")).status_code == 503
            answer = await c.get("/api/v1/metrics")
    assert answer.status_code == 503
    assert answer.json()["retriable"] is True


async def test_unknown_routes_are_json_404(http: httpx.AsyncClient) -> None:
    answer = await http.get("/api/v1/nothing")
    assert answer.status_code == 404
    assert answer.json() == {"error": "Not Found"}
    missing = await http.get("/api/v1/executions/nope")
    assert missing.status_code == 404
    assert missing.json() == {"error": "execution 'nope' not found"}
    assert (await http.get("/api/v1/executions/e-1/list-metrics/x")).status_code == 404


def _body(answer: httpx.Response) -> Any:
    assert answer.status_code == 200, answer.text
    return orjson.loads(answer.content)


@pytest.mark.usefixtures("seeded")
async def test_executions_newest_first_with_filters(http: httpx.AsyncClient) -> None:
    listed = _body(await http.get("/api/v1/executions"))
    assert [e["execution_id"] for e in listed["items"]] == ["e-3", "e-2", "e-1"]
    assert listed["next_cursor"] is None
    assert listed["items"][2] == {
        "execution_id": "e-1",
        "pipeline_name": "my_pipeline",
        "deployment_name": "my_deployment",
        "created_at": "2025-11-24T16:00:00.000000Z",
        "updated_at": "2025-11-24T16:00:00.000000Z",
        "scalar_count": 2,
        "list_count": 3,
    }
    assert listed["items"][1]["deployment_name"] is None
    by_pipeline = _body(
        await http.get("/api/v1/executions", params={"pipeline_name": "my_pipeline"})
    )
    assert [e["execution_id"] for e in by_pipeline["items"]] == ["e-2", "e-1"]
    both = {"pipeline_name": "my_pipeline", "deployment_name": "my_deployment"}
    assert [e["execution_id"] for e in _body(await http.get("/api/v1/executions", params=both))[
        "items"
    ]] == ["e-1"]  # fmt: skip
    mismatch = {"pipeline_name": "other", "deployment_name": "my_deployment"}
    assert _body(await http.get("/api/v1/executions", params=mismatch))["items"] == []
    first = _body(await http.get("/api/v1/executions", params={"limit": "2"}))
    assert [e["execution_id"] for e in first["items"]] == ["e-3", "e-2"]
    rest = _body(
        await http.get("/api/v1/executions", params={"limit": "2", "cursor": first["next_cursor"]})
    )
    assert [e["execution_id"] for e in rest["items"]] == ["e-1"]
    assert rest["next_cursor"] is None


@pytest.mark.usefixtures("seeded")
async def test_execution_detail_list_metric_and_csv(http: httpx.AsyncClient) -> None:
    detail = _body(await http.get("/api/v1/executions/e-2"))
    assert detail["scalar_count"] == 4
    assert [(m["name"], m["value"]) for m in detail["scalars"]] == [
        ("accuracy", 0.5), ("nan", "NaN"), ("ninf", "-Infinity"), ("pinf", "Infinity"),
    ]  # fmt: skip
    assert detail["lists"] == [
        {
            "name": "accuracy_list",
            "created_at": "2025-11-24T16:00:01.001000Z",
            "length": 4,
            "dropped": 0,
        }
    ]
    logx = _body(await http.get("/api/v1/executions/e-1/list-metrics/logx"))
    assert logx["value"] == LOGX
    assert logx["execution_id"] == "e-1"
    answer = await http.get("/api/v1/executions/e-2/metrics.csv")
    assert answer.headers["content-type"].startswith("text/csv")
    assert 'filename="e-2-metrics.csv"' in answer.headers["content-disposition"]
    assert answer.text.splitlines() == [
        "kind,name,index,value,created_at",
        "scalar,accuracy,,0.5,2025-11-24T16:00:01.500000Z",
        "scalar,nan,,nan,2025-11-24T16:00:01.000001Z",
        "scalar,ninf,,-inf,2025-11-24T16:00:01.000002Z",
        "scalar,pinf,,inf,2025-11-24T16:00:01.000003Z",
        "list,accuracy_list,0,1.0,2025-11-24T16:00:01.001000Z",
        "list,accuracy_list,1,nan,2025-11-24T16:00:01.001000Z",
        "list,accuracy_list,2,inf,2025-11-24T16:00:01.001000Z",
        "list,accuracy_list,3,-inf,2025-11-24T16:00:01.001000Z",
    ]


CAPACITY_FIELDS = ("executions", "redis_used_memory_bytes")


async def test_stats_are_the_worker_counters(
    http: httpx.AsyncClient, redis_client: RedisClient, redis_keys: RedisKeys
) -> None:
    stats = _body(await http.get("/api/v1/stats"))
    assert set(stats) == set(CAPACITY_FIELDS)
    await redis_client.hset(redis_keys.stats, mapping={"applied": "12", "dead": "1"})
    stats = _body(await http.get("/api/v1/stats"))
    assert {k: v for k, v in stats.items() if k not in CAPACITY_FIELDS} == {
        "applied": 12,
        "dead": 1,
    }


@pytest.mark.usefixtures("seeded")
async def test_stats_report_executions_and_redis_memory(
    http: httpx.AsyncClient, redis_client: RedisClient, redis_keys: RedisKeys
) -> None:
    before = _body(await http.get("/api/v1/stats"))
    assert before["executions"] == 3  # this prefix's executions, not the shared server's
    # 30 blobs of 256 KiB under 30 hash tags: on a cluster they spread over the
    # three masters, so only the sum over all of them grows by all 7.5 MiB.
    blobs = [redis_keys.list_values(f"capacity-{i}", "blob") for i in range(30)]
    for key in blobs:
        await redis_client.set(key, b"x" * 256 * 1024)
    try:
        await redis_client.zadd(redis_keys.executions, {"capacity-0": T0})
        after = _body(await http.get("/api/v1/stats"))
    finally:
        for key in blobs:
            await redis_client.delete(key)
    assert after["executions"] == 4
    grown = after["redis_used_memory_bytes"] - before["redis_used_memory_bytes"]
    # jemalloc rounds each 256 KiB value up to its next size class (320 KiB).
    assert 30 * 256 * 1024 <= grown <= 2 * 30 * 256 * 1024, grown


async def _seed_many(redis: RedisClient, keys: RedisKeys) -> None:
    # Equal creation times on purpose: ties must page by execution id.
    for i in range(7):
        await seed_execution(
            redis, keys, f"x-{i}", pipeline_name="p", deployment_name=f"d{i % 2}",
            created_us=T0 + (i // 3), scalars={f"m{j}": float(i * 10 + j) for j in range(i % 4)},
            lists={f"l{j}": [float(i)] * (j + 1) for j in range(i % 3)},
        )  # fmt: skip


async def _follow(http: httpx.AsyncClient, path: str, query: dict[str, str]) -> list[Any]:
    items: list[Any] = []
    cursor = None
    for _ in range(100):
        page = _body(
            await http.get(path, params={**query, **({"cursor": cursor} if cursor else {})})
        )
        items.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("pagination did not end")


@pytest.mark.parametrize("path", ["/api/v1/metrics", "/api/v1/list-metrics"])
@pytest.mark.parametrize("flt", [{}, {"pipeline_name": "p"}, {"deployment_name": "d1"}])
async def test_pagination_returns_everything_once(
    http: httpx.AsyncClient,
    redis_client: RedisClient,
    redis_keys: RedisKeys,
    path: str,
    flt: dict[str, str],
) -> None:
    await _seed_many(redis_client, redis_keys)
    whole = _body(await http.get(path, params=flt))
    assert whole["next_cursor"] is None
    expected = whole["items"]
    assert len(expected) >= 3
    assert len({(m["execution_id"], m["name"]) for m in expected}) == len(expected)
    for limit in (1, 2, 3):
        assert await _follow(http, path, {**flt, "limit": str(limit)}) == expected


async def test_list_pages_respect_the_value_budget(
    app: Starlette, redis_client: RedisClient, redis_keys: RedisKeys
) -> None:
    await _seed_many(redis_client, redis_keys)
    reader = app.state.reader
    whole, cursor = await reader.list_metrics(None, 1000)
    assert cursor is None
    pages: list[Any] = []
    while True:
        page, cursor = await reader.list_metrics(None, 1000, cursor, max_values=2)
        assert page, "a page always holds at least one list"
        assert len(page) == 1 or sum(len(m["value"]) for m in page) <= 2
        pages.extend(page)
        if cursor is None:
            break
    assert pages == whole


async def test_client_follows_short_pages(
    client: AsyncMetricsClient,
    redis_client: RedisClient,
    redis_keys: RedisKeys,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await _seed_many(redis_client, redis_keys)
    whole = await client.get_metrics()
    from stepmetrics.store import paging

    monkeypatch.setitem(paging.PAGE_LIMITS, paging.METRICS_PATH, 2)
    assert await client.get_metrics() == whole
    assert len(whole) == sum(i % 4 for i in range(7))


@pytest.mark.usefixtures("seeded")
async def test_filters_check_the_current_meta_not_only_the_index(
    client: AsyncMetricsClient, redis_client: RedisClient, redis_keys: RedisKeys
) -> None:
    # An index entry whose execution now says another pipeline/deployment.
    await redis_client.zadd(redis_keys.pipeline_index("ghost"), {"e-1": T0})
    await redis_client.zadd(redis_keys.deployment_index("ghost-dep"), {"e-2": T0})
    assert await client.get_metrics(pipeline_name="ghost") == []
    assert await client.get_list_metrics(pipeline_name="ghost") == []
    assert await client.get_metrics(deployment_name="ghost-dep") == []
    assert await client.get_list_metrics(deployment_name="ghost-dep") == []


async def test_unusual_names_and_values_round_trip(
    client: AsyncMetricsClient,
    http: httpx.AsyncClient,
    redis_client: RedisClient,
    redis_keys: RedisKeys,
) -> None:
    names = ['quote"d', "back\\slash", "slash/name", "naïve ✓ 指标", "a" * 256]
    values = [1e-05, -0.0, 1e300, 5e-324, 0.1 + 0.2]
    await seed_execution(
        redis_client, redis_keys, "run 1/é", pipeline_name="pipe ü", created_us=T0,
        scalars=dict(zip(names, values, strict=True)), lists={"slash/list": values},
    )  # fmt: skip
    got = await client.get_metrics(pipeline_name="pipe ü")
    assert [(m["name"], repr(m["value"])) for m in got] == sorted(
        (n, repr(v)) for n, v in zip(names, values, strict=True)
    )
    assert {m["execution_id"] for m in got} == {"run 1/é"}
    (listed,) = await client.get_list_metrics(name="slash/list")
    assert [repr(v) for v in listed["value"]] == [repr(v) for v in values]  # type: ignore[union-attr]
    assert [m["name"] for m in await client.get_metrics(name="naïve ✓ 指标")] == ["naïve ✓ 指标"]
    detail = _body(await http.get("/api/v1/executions/run 1%2Fé"))
    assert detail["execution_id"] == "run 1/é"
    one = _body(await http.get("/api/v1/executions/run 1%2Fé/list-metrics/slash/list"))
    assert one["name"] == "slash/list"


async def test_openapi_documents_every_route(app: Starlette, http: httpx.AsyncClient) -> None:
    document = _body(await http.get("/openapi.json"))
    paths = {getattr(route, "path", "") for route in app.routes} - {"/openapi.json"}
    documented = {
        p.replace("{name}", "{name:path}").replace("{execution_id}", "{execution_id:path}")
        for p in document["paths"]
    }
    assert paths == documented
    for path, item in document["paths"].items():
        assert item["get"]["responses"]["200"], path
    schemas = document["components"]["schemas"]
    assert set(schemas["Metric"]["required"]) == {
        "name", "value", "created_at", "execution_id", "deployment_name", "pipeline_name",
    }  # fmt: skip


async def test_csv_export_holds_every_list_across_pages(
    redis_client: RedisClient, redis_keys: RedisKeys, http: httpx.AsyncClient
) -> None:
    lists = {f"l{i:04d}": [float(i), float(i) + 0.5] for i in range(1001)}  # > 1 page of lists
    await seed_execution(
        redis_client, redis_keys, "many", pipeline_name="p", created_us=T0, lists=lists
    )
    answer = await http.get("/api/v1/executions/many/metrics.csv")
    assert answer.status_code == 200
    rows = answer.text.splitlines()
    assert rows[0] == "kind,name,index,value,created_at"
    list_rows = [row.split(",") for row in rows[1:]]
    assert len(list_rows) == 2 * 1001
    assert {row[1] for row in list_rows} == set(lists)
    assert list_rows[-1][:4] == ["list", "l1000", "1", "1000.5"]


async def test_csv_export_neutralises_formula_names_but_keeps_numbers(
    redis_client: RedisClient, redis_keys: RedisKeys, http: httpx.AsyncClient
) -> None:
    await seed_execution(
        redis_client, redis_keys, "=x", pipeline_name="p", created_us=T0,
        scalars={"=HYPERLINK(1)": -1.5, "@sum": 2.0, "plain": -0.25},
        lists={"+list": [-2.0, 3.0], "-neg": [1.0]},
    )  # fmt: skip
    answer = await http.get("/api/v1/executions/=x/metrics.csv")
    assert answer.status_code == 200
    assert [row.split(",")[:4] for row in answer.text.splitlines()] == [
        ["kind", "name", "index", "value"],
        ["scalar", "'=HYPERLINK(1)", "", "-1.5"],
        ["scalar", "'@sum", "", "2.0"],
        ["scalar", "plain", "", "-0.25"],
        ["list", "'+list", "0", "-2.0"],
        ["list", "'+list", "1", "3.0"],
        ["list", "'-neg", "0", "1.0"],
    ]


@pytest.mark.parametrize(
    ("path", "fragment"),
    [
        ("/api/v1/executions//metrics.csv", "path parameter 'execution_id' must be 1..1024"),
        ("/api/v1/executions/e-1/list-metrics/" + "n" * 1025, "path parameter 'name' must be"),
        ("/api/v1/executions/" + "e" * 1025, "path parameter 'execution_id' must be 1..1024"),
    ],
)
async def test_bad_path_parameters_are_400(
    http: httpx.AsyncClient, path: str, fragment: str
) -> None:
    answer = await http.get(path)
    assert answer.status_code == 400
    assert fragment in answer.json()["error"]
    assert len(answer.json()["error"]) < 200


async def test_cursors_of_the_longest_ids_are_accepted(
    redis_client: RedisClient, redis_keys: RedisKeys, http: httpx.AsyncClient
) -> None:
    ids = ["\U0001f600" * 255 + tail for tail in "ab"]  # 256 characters, 1,021 UTF-8 bytes
    for i, execution_id in enumerate(ids):
        await seed_execution(
            redis_client, redis_keys, execution_id, pipeline_name="p", created_us=T0 + i
        )
    first = _body(await http.get("/api/v1/executions", params={"limit": "1"}))
    assert len(first["next_cursor"]) > 1024
    rest = _body(await http.get("/api/v1/executions", params={"cursor": first["next_cursor"]}))
    assert [e["execution_id"] for e in first["items"] + rest["items"]] == ids[::-1]


async def _calls(redis: RedisClient, command: str) -> int:
    """Calls of `command` Redis counted (summed over a cluster's nodes)."""
    name = f"cmdstat_{command}"
    if isinstance(redis, RedisCluster):
        per_node = await redis.info("commandstats", target_nodes=RedisCluster.ALL_NODES)
        return sum(int(node.get(name, {}).get("calls", 0)) for node in per_node.values())
    stats = await redis.info("commandstats")
    return int(stats.get(name, {}).get("calls", 0))


async def test_an_execution_larger_than_a_slice_reads_back_whole_without_hgetall(
    redis_client: RedisClient, redis_keys: RedisKeys, http: httpx.AsyncClient
) -> None:
    limits = WriteLimits(scalar_names=2_400, list_names=1)
    writer = MetricsWriter(redis_client, redis_keys, limits=limits)
    scalars: list[WireEvent] = [("s", f"m{i:04d}", T0 + i, float(i)) for i in range(2_500)]
    lists: list[WireEvent] = [("l", "kept", T0, [1.0, 2.0]), ("l", "over", T0, [3.0])]
    await writer.apply([Envelope("p", 0, "big", "pipe", None, [*scalars, *lists])])
    assert 2 * SLICE < 2_400  # three slices at least
    hgetall_before = await _calls(redis_client, "hgetall")
    hscan_before = await _calls(redis_client, "hscan")
    detail = _body(await http.get("/api/v1/executions/big"))
    assert [m["name"] for m in detail["scalars"]] == [f"m{i:04d}" for i in range(2_400)]
    assert detail["scalars"][-1]["value"] == 2_399.0
    assert detail["scalar_count"] == 2_400
    assert detail["dropped"] == {
        "scalar_events_by_name_cap": 100,
        "list_values_by_name_cap": 1,
        "list_values_by_value_cap": 0,
    }
    page = _body(await http.get("/api/v1/metrics?execution_id=big&limit=10000"))
    assert len(page["items"]) == 2_400
    rows = (await http.get("/api/v1/executions/big/metrics.csv")).text.splitlines()
    assert len([row for row in rows if row.startswith("scalar,")]) == 2_400
    # Only the meta hash (a few fields) is read whole; the rest in HSCAN slices.
    assert await _calls(redis_client, "hgetall") - hgetall_before == 2  # detail, CSV
    assert await _calls(redis_client, "hscan") - hscan_before >= 3 * 3
    stats = _body(await http.get("/api/v1/stats"))
    assert (
        stats["scalar_events_dropped_by_name_cap"],
        stats["list_values_dropped_by_name_cap"],
    ) == (
        100,
        1,
    )
    assert "envelopes_refused" not in stats  # counters appear once they count something


def _from_columns(page: dict[str, Any]) -> list[dict[str, Any]]:
    assert page["shape"] == "columns-v1"
    return [
        {"name": n, "value": v, "created_at": c, "execution_id": g["execution_id"],
         "deployment_name": g["deployment_name"], "pipeline_name": g["pipeline_name"]}
        for g in page["executions"]
        for n, v, c in zip(g["names"], g["values"], g["created_at"], strict=True)
    ]  # fmt: skip


@pytest.mark.usefixtures("seeded")
@pytest.mark.parametrize(
    "flt",
    [{}, {"name": "accuracy"}, {"pipeline_name": "my_pipeline"}, {"execution_id": "e-2"}],
)
async def test_the_columns_shape_holds_the_items_of_every_page(
    http: httpx.AsyncClient, flt: dict[str, str]
) -> None:
    for limit in ("1", "2", "10000"):
        items, columns = [], []
        cursors: list[Any] = [None, None]
        while True:
            query = {**flt, "limit": limit}
            plain = _body(await http.get("/api/v1/metrics", params=_at(query, cursors[0])))
            packed = _body(
                await http.get("/api/v1/metrics", params=_at(query, cursors[1], "columns-v1"))
            )
            assert plain["next_cursor"] == packed["next_cursor"]
            items.extend(plain["items"])
            columns.extend(_from_columns(packed))
            cursors = [plain["next_cursor"], packed["next_cursor"]]
            if plain["next_cursor"] is None:
                break
        assert columns == items
        assert items, flt
    # Non-finite values travel as their names in columns too.
    packed = _body(await http.get("/api/v1/metrics?execution_id=e-2&shape=columns-v1"))
    assert sorted(map(str, packed["executions"][0]["values"])) == [
        "-Infinity", "0.5", "Infinity", "NaN",
    ]  # fmt: skip


def _at(query: dict[str, str], cursor: str | None, shape: str | None = None) -> dict[str, str]:
    return {
        **query,
        **({"cursor": cursor} if cursor else {}),
        **({"shape": shape} if shape else {}),
    }


async def test_an_unknown_shape_is_400_naming_the_allowed_ones(http: httpx.AsyncClient) -> None:
    answer = await http.get("/api/v1/metrics", params={"shape": "rows"})
    assert answer.status_code == 400
    assert answer.json()["error"] == "shape='rows' is not allowed: one of items, columns-v1"
    # Only scalar pages have shapes.
    answer = await http.get("/api/v1/list-metrics", params={"shape": "columns-v1"})
    assert answer.status_code == 400
    assert "unknown query parameter 'shape'" in answer.json()["error"]
