"""HTTP handlers of the reader API: thin adapters over `MetricsReader`.

The reader lives in `request.app.state.reader` (set by the app's lifespan).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any, Final, TypeAlias, TypeVar, cast

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from stepmetrics.store import endpoints
from stepmetrics.store.api import params
from stepmetrics.store.api.cache import ResponseCache
from stepmetrics.store.api.deletion import delete_execution
from stepmetrics.store.api.responses import JSONResponse, error
from stepmetrics.store.csv_cells import text_cell
from stepmetrics.store.endpoints import (
    COLUMNS_SHAPE,
    EXECUTIONS_PAGE,
    LIST_METRICS_PAGE,
    METRICS_PAGE,
    SHAPE_PARAM,
    PageLimit,
    route_template,
)
from stepmetrics.store.index import FILTERS, Filter
from stepmetrics.store.reader import MetricsReader
from stepmetrics.store.types import ExecutionDetail, Metric, ScalarColumns
from stepmetrics.store.wire import Cursor, list_to_wire, to_wire

_METRIC_PARAMS: Final = frozenset({*FILTERS, *params.PAGING})
_SCALAR_PARAMS: Final = _METRIC_PARAMS | {SHAPE_PARAM}
_EXECUTION_PARAMS: Final = frozenset({"pipeline_name", "deployment_name", *params.PAGING})
_UNSAFE_FILENAME: Final = re.compile(r"[^A-Za-z0-9._-]+")
_Row = TypeVar("_Row")
# MetricsReader.scalar_metrics / scalar_columns / list_metrics: (filter, limit, cursor) -> page
_ReadPage: TypeAlias = Callable[
    [Filter | None, int, Cursor | None], Awaitable[tuple[list[_Row], Cursor | None]]
]


def _reader(request: Request) -> MetricsReader:
    return cast(MetricsReader, request.app.state.reader)


def wire_scalars(items: list[Metric]) -> list[Metric]:
    """Non-finite scalar values as their JSON names, in place."""
    for item in cast(list[dict[str, Any]], items):
        value = item["value"]
        if value - value != 0.0:  # only NaN and the infinities: no call per finite value
            item["value"] = to_wire(value)
    return items


def wire_lists(items: list[Metric]) -> list[Metric]:
    """Non-finite list values as their JSON names, in place."""
    for item in items:
        cast(dict[str, Any], item)["value"] = list_to_wire(cast(list[float], item["value"]))
    return items


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    if await _reader(request).ping():
        return JSONResponse({"status": "ready"})
    return error(503, "Redis is not reachable", retriable=True)


def wire_columns(groups: list[ScalarColumns]) -> dict[str, Any]:
    """A `columns-v1` page body (non-finite values as their JSON names, in place)."""
    for group in groups:
        group["values"] = list_to_wire(group["values"])
    return {"shape": COLUMNS_SHAPE, "executions": groups}


def _items(to_json: Callable[[list[Metric]], Any]) -> Callable[[list[Metric]], dict[str, Any]]:
    return lambda items: {"items": to_json(items)}


async def metrics(request: Request) -> Response:
    query = params.checked(request.query_params, _SCALAR_PARAMS)
    reader = _reader(request)
    if params.shape(query) == COLUMNS_SHAPE:
        return await _metric_page(request, query, METRICS_PAGE, reader.scalar_columns, wire_columns)
    read = reader.scalar_metrics
    return await _metric_page(request, query, METRICS_PAGE, read, _items(wire_scalars))


async def list_metrics(request: Request) -> Response:
    query = params.checked(request.query_params, _METRIC_PARAMS)
    read = _reader(request).list_metrics
    return await _metric_page(request, query, LIST_METRICS_PAGE, read, _items(wire_lists))


async def _metric_page(
    request: Request,
    query: dict[str, str],
    page: PageLimit,
    read: _ReadPage[_Row],
    body: Callable[[list[_Row]], dict[str, Any]],
) -> Response:
    """One page of scalar or list metrics: the shared handler of both routes."""
    flt = params.metric_filter(query)
    limit, cursor = params.limit(query, page), params.cursor(query)

    async def render() -> Response:
        rows, next_cursor = await read(flt, limit, cursor)
        return JSONResponse({**body(rows), "next_cursor": next_cursor and next_cursor.encode()})

    return await _maybe_cached(request, flt, render)


async def _maybe_cached(
    request: Request, flt: Filter | None, render: Callable[[], Awaitable[Response]]
) -> Response:
    if flt is None or flt[0] != "execution_id":
        return await render()
    return await cached(request, flt[1], render)


async def cached(
    request: Request, execution_id: str, render: Callable[[], Awaitable[Response]]
) -> Response:
    """The answer about one execution from `app.state.responses` when the
    execution's version is unchanged, else `render()` (kept if it is a 200)."""
    cache: ResponseCache = request.app.state.responses
    key = (request.scope["path"], request.scope["query_string"])
    # Read BEFORE rendering (see stepmetrics.store.api.cache).
    version = await _reader(request).version(execution_id)
    if version is not None:
        body = cache.get(key, version)
        if body is not None:
            return Response(body, media_type=JSONResponse.media_type)
    response = await render()
    if version is not None and response.status_code == 200:
        cache.put(key, version, bytes(response.body))
    return response


async def executions(request: Request) -> Response:
    query = params.checked(request.query_params, _EXECUTION_PARAMS)
    items, next_cursor = await _reader(request).executions(
        query.get("pipeline_name"),
        query.get("deployment_name"),
        params.limit(query, EXECUTIONS_PAGE),
        params.cursor(query),
    )
    return JSONResponse({"items": items, "next_cursor": next_cursor and next_cursor.encode()})


async def _detail(request: Request) -> ExecutionDetail | Response:
    execution_id = params.path(request.path_params, "execution_id")
    detail = await _reader(request).execution(execution_id)
    if detail is None:
        return error(404, f"execution {execution_id!r} not found")
    return detail


async def execution(request: Request) -> Response:
    async def render() -> Response:
        detail = await _detail(request)
        if isinstance(detail, Response):
            return detail
        wire_scalars(detail["scalars"])
        return JSONResponse(detail)

    params.checked(request.query_params, ())
    return await cached(request, params.path(request.path_params, "execution_id"), render)


async def execution_list_metric(request: Request) -> Response:
    params.checked(request.query_params, ())
    execution_id = params.path(request.path_params, "execution_id")
    name = params.path(request.path_params, "name")
    found = await _reader(request).list_metric(execution_id, name)
    if found is None:
        return error(404, f"list metric {name!r} of execution {execution_id!r} not found")
    return JSONResponse(wire_lists([found])[0])


async def execution_csv(request: Request) -> Response:
    params.checked(request.query_params, ())
    detail = await _detail(request)
    if isinstance(detail, Response):
        return detail
    filename = _UNSAFE_FILENAME.sub("_", detail["execution_id"])[:100] or "execution"
    return StreamingResponse(
        _csv_chunks(_reader(request), detail),
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="{filename}-metrics.csv"'},
    )


async def _csv_chunks(reader: MetricsReader, detail: ExecutionDetail) -> AsyncIterator[str]:
    """kind,name,index,value,created_at: scalars first, then each list's values
    by index, one page of lists at a time (memory stays at one page); values
    as Python writes floats (`nan`, `inf`, `-inf`); names as text cells that
    spreadsheets will not run (`stepmetrics.store.csv_cells`)."""
    yield _csv_rows(
        [("kind", "name", "index", "value", "created_at")]
        + [
            ("scalar", text_cell(m["name"]), "", repr(m["value"]), m["created_at"])
            for m in detail["scalars"]
        ]
    )
    flt: Filter = ("execution_id", detail["execution_id"])
    cursor = None
    while True:
        lists, cursor = await reader.list_metrics(
            flt, limit=LIST_METRICS_PAGE.maximum, cursor=cursor
        )
        for item in lists:
            name, created = text_cell(item["name"]), item["created_at"]
            values = cast(list[float], item["value"])
            yield _csv_rows(("list", name, i, repr(v), created) for i, v in enumerate(values))
        if cursor is None:
            return


def _csv_rows(rows: Iterable[tuple[object, ...]]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue()


async def stats(request: Request) -> Response:
    params.checked(request.query_params, ())
    return JSONResponse(await _reader(request).stats())


def api_routes() -> list[BaseRoute]:
    """Every route of the reader API (the OpenAPI document is added by the app)."""
    return [
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route(endpoints.METRICS_PATH, metrics),
        Route(endpoints.LIST_METRICS_PATH, list_metrics),
        Route(endpoints.EXECUTIONS_PATH, executions),
        # Execution ids and metric names may hold "/" (sent as %2F, decoded
        # before routing): most specific routes first.
        Route(route_template(endpoints.EXECUTION_LIST_METRIC_PATH), execution_list_metric),
        Route(route_template(endpoints.EXECUTION_CSV_PATH), execution_csv),
        Route(route_template(endpoints.EXECUTION_PATH), execution, methods=["GET", "HEAD"]),
        Route(route_template(endpoints.EXECUTION_PATH), delete_execution, methods=["DELETE"]),
        Route(endpoints.STATS_PATH, stats),
    ]
