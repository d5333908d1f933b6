"""Result shapes shared by the reader, the HTTP API and the query library.

Times are ISO 8601 UTC strings with microsecond precision and a `Z` suffix,
e.g. `2026-11-26T19:56:09.123456Z`. Values are floats; in JSON, non-finite
values travel as the strings "NaN", "Infinity" and "-Infinity".
"""

from __future__ import annotations

from typing import TypedDict


class Metric(TypedDict):
    """One scalar metric (`value` is a float) or list metric (`value` is a list)."""

    name: str
    value: float | list[float]
    created_at: str
    execution_id: str
    deployment_name: str | None
    pipeline_name: str | None


class ScalarColumns(TypedDict):
    """The scalar metrics of one execution in a page, as parallel columns
    (the `columns-v1` shape: `stepmetrics.store.endpoints.COLUMNS_SHAPE`)."""

    execution_id: str
    pipeline_name: str | None
    deployment_name: str | None
    names: list[str]
    values: list[float]
    created_at: list[str]


class ExecutionSummary(TypedDict):
    """One execution as listed by `GET /api/v1/executions`."""

    execution_id: str
    pipeline_name: str | None
    deployment_name: str | None
    created_at: str
    updated_at: str
    scalar_count: int
    list_count: int


class ListInfo(TypedDict):
    """A list metric of one execution, without its values."""

    name: str
    created_at: str
    length: int
    dropped: int


class Dropped(TypedDict):
    """What the worker's limits dropped from one execution (not stored anywhere)."""

    # events of scalar names new to the execution once it held the most scalars allowed
    scalar_events_by_name_cap: int
    # values of list names new to the execution once it held the most lists allowed
    list_values_by_name_cap: int
    # values beyond a list's cap of values (the sum of the lists' `dropped`)
    list_values_by_value_cap: int


class ExecutionDetail(ExecutionSummary):
    """One execution with its scalar metrics, the outline of its lists and what
    the worker's limits dropped from it."""

    scalars: list[Metric]
    lists: list[ListInfo]
    dropped: Dropped
