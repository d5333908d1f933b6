"""`GET /api/v1/list-buckets`: one list metric (or an index range of it)
reduced to buckets by `stepmetrics.store.downsample`.

JSON by default; `format=float64-le` answers the packed bytes the web
interface's charts read (min, max, last as float64, then a flags byte per
bucket), with the range in `X-Stepmetrics-*` headers.
"""

from __future__ import annotations

from typing import Any, Final, cast

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from stepmetrics.store import downsample as ds
from stepmetrics.store.api import params
from stepmetrics.store.api.responses import JSONResponse, error
from stepmetrics.store.endpoints import LIST_BUCKETS_PATH
from stepmetrics.store.errors import StoreQueryError
from stepmetrics.store.reader import MetricsReader
from stepmetrics.store.wire import list_to_wire

FORMATS: Final = ("json", "float64-le")
BUCKET_PARAMS: Final = ("execution_id", "name", "buckets", "start", "end", "format")


def bounded_int(query: dict[str, str], key: str, low: int, high: int, default: int) -> int:
    """Integer parameter `key` in low..high; `default` when absent."""
    raw = query.get(key)
    if raw is None:
        return default
    # ASCII digits only: str.isdigit() also accepts "²", which int() refuses.
    value = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 12 else low - 1
    if not low <= value <= high:
        raise StoreQueryError(f"{key}={raw!r:.40} is not allowed: an integer {low}..{high}")
    return value


def _request(query: dict[str, str]) -> tuple[int, int, int | None, str]:
    missing = [key for key in ("execution_id", "name") if key not in query]
    if missing:
        raise StoreQueryError(
            f"query parameters execution_id and name are required; missing: {missing}"
        )
    buckets = bounded_int(query, "buckets", ds.MIN_BUCKETS, ds.MAX_BUCKETS, ds.DEFAULT_BUCKETS)
    start = bounded_int(query, "start", 0, ds.MAX_INDEX, 0)
    end = bounded_int(query, "end", 1, ds.MAX_INDEX, ds.MAX_INDEX) if "end" in query else None
    fmt = query.get("format", "json")
    if fmt not in FORMATS:
        raise StoreQueryError(f"format={fmt!r:.40} is not allowed: one of {', '.join(FORMATS)}")
    return buckets, start, end, fmt


def _json(execution_id: str, name: str, found: ds.Buckets) -> dict[str, Any]:
    return {
        "execution_id": execution_id,
        "name": name,
        "length": found.length,
        "start": found.start,
        "end": found.end,
        "buckets": found.count,
        "min": list_to_wire(found.minimum.tolist()),
        "max": list_to_wire(found.maximum.tolist()),
        "last": list_to_wire(found.last.tolist()),
        "flags": list(found.flags),
        "non_finite": found.non_finite,
    }


async def list_buckets(request: Request) -> Response:
    """The buckets of list `name` of execution `execution_id` (404 if unknown)."""
    query = params.checked(request.query_params, BUCKET_PARAMS)
    buckets, start, end, fmt = _request(query)
    execution_id, name = query["execution_id"], query["name"]
    reader = cast(MetricsReader, request.app.state.reader)
    packed = await reader.packed_list_values(execution_id, name)
    if packed is None:
        return error(404, f"list metric {name!r} of execution {execution_id!r} not found")
    found = ds.downsample(packed, buckets, start, end)
    if fmt == "json":
        return JSONResponse(_json(execution_id, name, found))
    headers = {
        f"X-Stepmetrics-{key}": str(value)
        for key, value in (
            ("Length", found.length),
            ("Start", found.start),
            ("End", found.end),
            ("Buckets", found.count),
            ("Non-Finite", found.non_finite),
        )
    }
    return Response(found.packed(), media_type="application/octet-stream", headers=headers)


def bucket_routes() -> list[BaseRoute]:
    """The downsampling route, for the reader API's route list."""
    return [Route(LIST_BUCKETS_PATH, list_buckets)]
