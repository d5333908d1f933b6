"""The OpenAPI 3 document of the reader API (served at `/openapi.json`)."""

from __future__ import annotations

from typing import Any, Final

from stepmetrics.store import endpoints
from stepmetrics.store.endpoints import PageLimit
from stepmetrics.store.stats import COUNTERS
from stepmetrics.store.wire import NON_FINITE_WIRE

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
        "schema": schema or {"type": "string"},
    }


def _paging(page: PageLimit) -> list[dict[str, Any]]:
    return [
        _param(
            "limit",
            "page size",
            {"type": "integer", "minimum": 1, "maximum": page.maximum, "default": page.default},
        ),
        _param("cursor", "the next_cursor of the previous page"),
    ]


def _filters() -> list[dict[str, Any]]:
    return [
        _param("name", "metric name"),
        _param("pipeline_name", "pipeline name"),
        _param("deployment_name", "deployment name"),
        _param("execution_id", "execution id"),
    ]


def _ok(schema: str, description: str = "OK") -> dict[str, Any]:
    return {
        "200": {
            "description": description,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
        },
        "400": {
            "description": "bad parameter",
            "content": {"application/json": {"schema": _ERROR}},
        },
        "401": {
            "description": "missing or wrong token",
            "content": {"application/json": {"schema": _ERROR}},
        },
    }


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
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}


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
        "description": "The worker's counters: " + ", ".join(COUNTERS),
        "additionalProperties": {"type": ["integer", "string"]},
    },
}


def _paths() -> dict[str, Any]:
    execution = [_path_param("execution_id")]
    not_found = {
        "404": {"description": "unknown", "content": {"application/json": {"schema": _ERROR}}}
    }
    plain = {"200": {"description": "OK"}}
    return {
        "/healthz": _get("Liveness (no token needed)", plain, secure=False),
        "/readyz": _get("Readiness: 200 when Redis answers, else 503", plain, secure=False),
        endpoints.METRICS_PATH: _get(
            "Scalar metrics; at most one filter. " + _ORDER,
            _ok("MetricPage"),
            [*_filters(), *_paging(endpoints.METRICS_PAGE)],
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
        ),
        endpoints.EXECUTION_LIST_METRIC_PATH: _get(
            "One list metric of one execution, with its values.",
            {**_ok("ListMetric"), **not_found},
            [*execution, _path_param("name")],
        ),
        endpoints.EXECUTION_CSV_PATH: _get(
            "CSV export: kind,name,index,value,created_at (scalars, then list values by index).",
            {"200": {"description": "CSV", "content": {"text/csv": {}}}, **not_found},
            execution,
        ),
        endpoints.STATS_PATH: _get("Worker counters", _ok("Stats")),
    }


def openapi_document(version: str) -> dict[str, Any]:
    """The OpenAPI 3.1 document; `version` is the package version."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "stepmetrics reader API",
            "version": version,
            "description": "Read-only access to the metrics of ML pipeline step executions. "
            f"Non-finite numbers are the strings {_NON_FINITE}.",
        },
        "paths": _paths(),
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "session": {"type": "apiKey", "in": "cookie", "name": "stepmetrics_session"},
            },
        },
        "security": [{"bearer": []}, {"session": []}],
    }
