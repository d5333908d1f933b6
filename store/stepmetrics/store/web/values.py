"""The charts' data endpoint: one list metric's values as raw float64 bytes.

`GET /api/web/list-values?execution_id=&name=` answers the list exactly as
Redis stores it (packed little-endian float64): a browser reads it straight
into a `Float64Array`, NaN and infinities included, with no JSON to encode or
parse. 50,000 values are 400 kB. It lives under `/api/`, so the API's token
middleware protects it like every data endpoint.
"""

from __future__ import annotations

from typing import Final, cast

from starlette.requests import Request
from starlette.responses import Response

from stepmetrics.store.api.responses import error
from stepmetrics.store.reader import MetricsReader

LIST_VALUES_PATH: Final = "/api/web/list-values"
_PARAMS: Final = frozenset({"execution_id", "name"})


async def list_values(request: Request) -> Response:
    """The packed values of list `name` of execution `execution_id` (404 if unknown)."""
    query = request.query_params
    unknown = sorted(set(query) - _PARAMS)
    missing = sorted(p for p in _PARAMS if not query.get(p))
    if unknown or missing:
        return error(
            400,
            f"parameters execution_id and name are required (missing: {missing}); "
            f"no others are allowed (got: {unknown})",
        )
    execution_id, name = query["execution_id"], query["name"]
    reader = cast(MetricsReader, request.app.state.reader)
    packed = await reader.packed_list_values(execution_id, name)
    if packed is None:
        return error(404, f"list metric {name!r} of execution {execution_id!r} not found")
    return Response(
        packed,
        media_type="application/octet-stream",
        headers={
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
            "X-Stepmetrics-Encoding": "float64-le",
        },
    )
