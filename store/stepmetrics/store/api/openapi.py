"""The OpenAPI 3 document of the reader API (served at `/openapi.json`)."""

from __future__ import annotations

from typing import Any, Final

from stepmetrics.store import downsample, endpoints
from stepmetrics.store.api.params import MAX_PARAM_LENGTH
from stepmetrics.store.endpoints import PageLimit
from stepmetrics.store.index import FILTERS
from stepmetrics.store.stats import COUNTERS
from stepmetrics.store.wire import CURSOR_PATTERN, MAX_CURSOR_LENGTH, NON_FINITE_WIRE

_TIME: Final = {
    "type": "string",
    "format": "date-time",
    "description": "ISO 8601 UTC with microseconds and a Z suffix",
    "example": "2026-11-26T19:56:09.123456Z",
}
_NUMBER: Final = {"oneOf": [{"type": "number"}, {"type": "string", "enum": list(NON_FINITE_WIRE)}]}
_NON_FINITE: Final = ", ".join(f'"{name}"' for name in NON_FINITE_WIRE)
_NAME: Final = {"type": ["string", "null"]}
_ERROR: Final = {"$ref": "#/components/schemas/Error"}
# What the API accepts of every query or path parameter's text.
_TEXT: Final = {"type": "string", "minLength": 1, "maxLength": MAX_PARAM_LENGTH}
# Opaque to clients; every string of this form is a position to page from.
_CURSOR: Final = {"type": "string", "maxLength": MAX_CURSOR_LENGTH, "pattern": CURSOR_PATTERN}
_ORDER: Final = (
    "Ordered by the execution's creation time (oldest first), then execution id, then metric "
    "name. Page with `next_cursor` until it is null; a page may hold fewer than `limit` items."
)


def _param(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema or _TEXT,
    }


def _paging(page: PageLimit) -> list[dict[str, Any]]:
    return [
        _param(
            "limit",
            "page size",
            {"type": "integer", "minimum": 1, "maximum": page.maximum, "default": page.default},
        ),
        _param("cursor", "the next_cursor of the previous page", _CURSOR),
    ]


def _filters() -> list[dict[str, Any]]:
    """The four filters as one exploded object: at most one may be given."""
    return [
        {
            "name": "filter",
            "in": "query",
            "style": "form",
            "explode": True,
            "required": False,
            "description": "at most one of: " + ", ".join(FILTERS),
            "schema": {
                "type": "object",
                "properties": dict.fromkeys(FILTERS, _TEXT),
                "additionalProperties": False,
                "maxProperties": 1,
            },
        }
    ]


def _answer(description: str, schema: dict[str, Any] = _ERROR) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_REFUSED: Final = {
    "400": _answer("bad parameter: the error names it and what is allowed"),
    "401": _answer("missing or wrong token"),
}


def _ok(schema: str, description: str = "OK") -> dict[str, Any]:
    return {"200": _answer(description, {"$ref": f"#/components/schemas/{schema}"}), **_REFUSED}


_SHAPES: Final = (
    f" With {endpoints.SHAPE_PARAM}={endpoints.COLUMNS_SHAPE} the page holds the same metrics "
    "in `executions`: per execution its id, pipeline and deployment once and parallel arrays "
    "`names`, `values`, `created_at` (metric i is names[i], values[i], created_at[i])."
)


def _shape() -> dict[str, Any]:
    schema = {"type": "string", "enum": list(endpoints.SHAPES), "default": endpoints.ITEMS_SHAPE}
    return _param(endpoints.SHAPE_PARAM, "page layout (versioned)", schema)


def _ok_one_of(*schemas: str) -> dict[str, Any]:
    one_of = [{"$ref": f"#/components/schemas/{name}"} for name in schemas]
    return {"200": _answer("OK", {"oneOf": one_of}), **_REFUSED}


def _get(
    summary: str,
    responses: dict[str, Any],
    parameters: list[Any] | None = None,
    secure: bool = True,
) -> dict[str, Any]:
    operation: dict[str, Any] = {"summary": summary, "responses": responses}
    if parameters:
        operation["parameters"] = parameters
    if not secure:
        operation["security"] = []
    return {"get": operation}


def _path_param(name: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": _TEXT}


def _count(description: str) -> dict[str, Any]:
    return {"type": "integer", "description": description}


def _object(properties: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "required": sorted(properties), "properties": properties}


def _page(item: str) -> dict[str, Any]:
    return _object(
        {
            "items": {"type": "array", "items": {"$ref": f"#/components/schemas/{item}"}},
            "next_cursor": {"type": ["string", "null"]},
        }
    )


def _metric(value: dict[str, Any]) -> dict[str, Any]:
    return _object(
        {
            "name": {"type": "string"},
            "value": value,
            "created_at": _TIME,
            "execution_id": {"type": "string"},
            "deployment_name": _NAME,
            "pipeline_name": _NAME,
        }
    )


_SUMMARY: Final = {
    "execution_id": {"type": "string"},
    "pipeline_name": _NAME,
    "deployment_name": _NAME,
    "created_at": _TIME,
    "updated_at": _TIME,
    "scalar_count": {"type": "integer"},
    "list_count": {"type": "integer"},
}

SCHEMAS: Final[dict[str, Any]] = {
    "Error": _object({"error": {"type": "string"}}),
    "Metric": _metric(_NUMBER),
    "ListMetric": _metric({"type": "array", "items": _NUMBER}),
    "MetricPage": _page("Metric"),
    "MetricColumns": _object(
        {
            "execution_id": {"type": "string"},
            "pipeline_name": _NAME,
            "deployment_name": _NAME,
            "names": {"type": "array", "items": {"type": "string"}},
            "values": {"type": "array", "items": _NUMBER},
            "created_at": {"type": "array", "items": _TIME},
        }
    ),
    "MetricColumnsPage": _object(
        {
            "shape": {"type": "string", "enum": [endpoints.COLUMNS_SHAPE]},
            "executions": {
                "type": "array",
                "items": {"$ref": "#/components/schemas/MetricColumns"},
            },
            "next_cursor": {"type": ["string", "null"]},
        }
    ),
    "ListMetricPage": _page("ListMetric"),
    "Execution": _object(_SUMMARY),
    "ExecutionPage": _page("Execution"),
    "ListInfo": _object(
        {
            "name": {"type": "string"},
            "created_at": _TIME,
            "length": {"type": "integer"},
            "dropped": {"type": "integer", "description": "values refused by the 50,000 cap"},
        }
    ),
    "ExecutionDetail": _object(
        {
            **_SUMMARY,
            "scalars": {"type": "array", "items": {"$ref": "#/components/schemas/Metric"}},
            "lists": {"type": "array", "items": {"$ref": "#/components/schemas/ListInfo"}},
            "dropped": {"$ref": "#/components/schemas/Dropped"},
        }
    ),
    "ListBuckets": _object(
        {
            "execution_id": {"type": "string"},
            "name": {"type": "string"},
            "length": {"type": "integer", "description": "values in the whole list"},
            "start": {"type": "integer"},
            "end": {"type": "integer"},
            "buckets": {"type": "integer"},
            "min": {"type": "array", "items": _NUMBER},
            "max": {"type": "array", "items": _NUMBER},
            "last": {"type": "array", "items": _NUMBER},
            "flags": {"type": "array", "items": {"type": "integer"}},
            "non_finite": {
                "type": "integer",
                "description": "NaN and infinite values in the range",
            },
        }
    ),
    "Dropped": _object(
        {
            "scalar_events_by_name_cap": _count(
                "events of scalar names new to the execution once it held the most "
                "distinct scalars the worker allows (STEPMETRICS_MAX_SCALAR_NAMES)"
            ),
            "list_values_by_name_cap": _count(
                "values of list names new to the execution once it held the most "
                "distinct lists the worker allows (STEPMETRICS_MAX_LIST_NAMES)"
            ),
            "list_values_by_value_cap": _count(
                "values beyond the 50,000 kept per list (the sum of the lists' `dropped`)"
            ),
        }
    ),
    "Stats": {
        "type": "object",
        "description": "The worker's counters (" + ", ".join(COUNTERS) + "; a counter appears "
        "once it counted something) and the store's capacity figures",
        "properties": {
            "executions": {
                "type": "integer",
                "minimum": 0,
                "description": "executions stored under this prefix",
            },
            "redis_used_memory_bytes": {
                "type": "integer",
                "minimum": 0,
                "description": "Redis INFO used_memory (on a cluster: the sum over the "
                "masters); the whole server, not only this prefix",
            },
        },
        "required": ["executions", "redis_used_memory_bytes"],
        "additionalProperties": {"type": ["integer", "string"]},
    },
}


def _paths() -> dict[str, Any]:
    execution = [_path_param("execution_id")]
    not_found = {"404": _answer("unknown")}
    plain = {"200": {"description": "OK"}}
    return {
        "/healthz": _get("Liveness (no token needed)", plain, secure=False),
        "/readyz": _get(
            "Readiness: 200 when Redis answers, else 503",
            {**plain, "503": _answer("Redis is not reachable")},
            secure=False,
        ),
        endpoints.METRICS_PATH: _get(
            "Scalar metrics; at most one filter. " + _ORDER + _SHAPES,
            _ok_one_of("MetricPage", "MetricColumnsPage"),
            [*_filters(), *_paging(endpoints.METRICS_PAGE), _shape()],
        ),
        endpoints.LIST_METRICS_PATH: _get(
            "List metrics (values in record order); at most one filter. "
            + _ORDER
            + f" A page holds at most about {endpoints.MAX_PAGE_VALUES:,} values.",
            _ok("ListMetricPage"),
            [*_filters(), *_paging(endpoints.LIST_METRICS_PAGE)],
        ),
        endpoints.EXECUTIONS_PATH: _get(
            "Executions, newest first; both filters must match when both are given.",
            _ok("ExecutionPage"),
            [
                _param("pipeline_name", "pipeline name"),
                _param("deployment_name", "deployment name"),
                *_paging(endpoints.EXECUTIONS_PAGE),
            ],
        ),
        endpoints.EXECUTION_PATH: _get(
            "One execution: summary, scalar metrics, list outlines and what the worker's "
            "limits dropped from it (`dropped`). Poll `updated_at` to follow a running execution.",
            {**_ok("ExecutionDetail"), **not_found},
            execution,
        )
        | _delete(execution),
        endpoints.EXECUTION_LIST_METRIC_PATH: _get(
            "One list metric of one execution, with its values.",
            {**_ok("ListMetric"), **not_found},
            [*execution, _path_param("name")],
        ),
        endpoints.EXECUTION_CSV_PATH: _get(
            "CSV export: kind,name,index,value,created_at (scalars, then list values by index).",
            {"200": {"description": "CSV", "content": {"text/csv": {}}}, **_REFUSED, **not_found},
            execution,
        ),
        endpoints.STATS_PATH: _get(
            "Worker counters, executions stored and Redis memory used", _ok("Stats")
        ),
        endpoints.PROMETHEUS_PATH: _get(
            "The API's own Prometheus metrics (text exposition format): requests by route "
            "template, method and status, and their latency (see docs/reader-api.md).",
            {"200": {"description": "OK", "content": {"text/plain": {}}}, "401": _REFUSED["401"]},
        ),
    }


def _delete(parameters: list[Any]) -> dict[str, Any]:
    """DELETE of one execution: the admin token only."""
    operation = {
        "summary": "Delete one execution: its metrics and every index entry, atomically per "
        "execution; a tombstone keeps the worker from applying its late or replayed envelopes "
        "until it expires (STEPMETRICS_TOMBSTONE_SECONDS). Needs the admin token "
        "(STEPMETRICS_API_ADMIN_TOKEN); a repeated delete answers 404.",
        "parameters": parameters,
        "responses": {
            "204": {"description": "deleted"},
            **_REFUSED,
            "403": _answer(
                "the token may only read, or deleting is off (no admin token configured)"
            ),
            "404": _answer("unknown, or deleted before"),
            "503": _answer("Redis failed; deleting again is safe"),
        },
    }
    return {"delete": operation}


def _int_param(name: str, description: str, low: int, high: int) -> dict[str, Any]:
    return _param(name, description, {"type": "integer", "minimum": low, "maximum": high})


def _buckets_path() -> dict[str, Any]:
    """`LIST_BUCKETS_PATH`: a list metric reduced to buckets (`stepmetrics.store.downsample`)."""
    count = (downsample.MIN_BUCKETS, downsample.MAX_BUCKETS, downsample.DEFAULT_BUCKETS)
    required = {"required": True}
    responses = _ok("ListBuckets")
    binary = {"schema": {"type": "string", "format": "binary"}}
    responses["200"]["content"]["application/octet-stream"] = binary
    return _get(
        "One list metric, or the index range start..end of it, reduced to buckets of "
        "consecutive indices (bucket i: start + i*span//count .. start + (i+1)*span//count - 1, "
        "span = end - start, count = min(buckets, span)); each keeps the min, max and last of "
        "its finite values (NaN when it has none) and flags: NaN 1, +Infinity 2, -Infinity 4, "
        "finite 8. A range of at most `buckets` values gives one bucket per value (exact). "
        "format=float64-le answers min, max, last (count float64 little-endian each) then one "
        "flags byte per bucket, with headers X-Stepmetrics-Length, -Start, -End, -Buckets, "
        "-Non-Finite.",
        {
            **responses,
            "404": {"description": "unknown", "content": {"application/json": {"schema": _ERROR}}},
        },
        [
            _param("execution_id", "execution id") | required,
            _param("name", "list metric name") | required,
            _param(
                "buckets",
                "at most this many buckets",
                {"type": "integer", "minimum": count[0], "maximum": count[1], "default": count[2]},
            ),
            _int_param("start", "first index (default 0)", 0, downsample.MAX_INDEX),
            _int_param(
                "end",
                "index after the last (default: the length; at most `start` = an empty range)",
                1,
                downsample.MAX_INDEX,
            ),
            _param("format", "answer encoding", {"type": "string", "enum": ["json", "float64-le"]}),
        ],
    )


def openapi_document(version: str) -> dict[str, Any]:
    """The OpenAPI 3.1 document; `version` is the package version."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "stepmetrics reader API",
            "version": version,
            "description": "Access to the metrics of ML pipeline step executions: reads with "
            "the read token, deletes with the admin token. "
            f"Non-finite numbers are the strings {_NON_FINITE}.",
        },
        "paths": {**_paths(), endpoints.LIST_BUCKETS_PATH: _buckets_path()},
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "session": {"type": "apiKey", "in": "cookie", "name": "stepmetrics_session"},
            },
        },
        "security": [{"bearer": []}, {"session": []}],
    }
