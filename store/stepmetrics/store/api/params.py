"""Validation of query parameters: every mistake is a 400 that says what was
wrong and what is allowed."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any, Final

from starlette.datastructures import QueryParams

from stepmetrics.store.endpoints import ITEMS_SHAPE, SHAPE_PARAM, SHAPES, PageLimit
from stepmetrics.store.errors import StoreQueryError
from stepmetrics.store.index import FILTERS, Filter
from stepmetrics.store.wire import MAX_CURSOR_LENGTH, Cursor

PAGING: Final = ("limit", "cursor")
MAX_PARAM_LENGTH: Final = 1024


def _check_text(what: str, value: str, maximum: int = MAX_PARAM_LENGTH) -> str:
    if not value or len(value) > maximum:
        raise StoreQueryError(f"{what} must be 1..{maximum} characters, got {value!r:.80}")
    return value


def path(path_params: Mapping[str, Any], key: str) -> str:
    """The path parameter `key` (an execution id or a metric name), checked like a query value."""
    return _check_text(f"path parameter {key!r}", path_params[key])


def checked(params: QueryParams, allowed: Collection[str]) -> dict[str, str]:
    """The parameters as a dict; refuse unknown, repeated or empty ones."""
    found: dict[str, str] = {}
    for key, value in params.multi_items():
        if key not in allowed:
            raise StoreQueryError(
                f"unknown query parameter {key!r}; allowed: {', '.join(sorted(allowed))}"
            )
        if key in found:
            raise StoreQueryError(f"query parameter {key!r} is given more than once")
        maximum = MAX_CURSOR_LENGTH if key == "cursor" else MAX_PARAM_LENGTH
        found[key] = _check_text(f"query parameter {key!r}", value, maximum)
    return found


def metric_filter(params: dict[str, str]) -> Filter | None:
    """The one filter given, if any; more than one is an error naming them."""
    given = [key for key in FILTERS if key in params]
    if len(given) > 1:
        raise StoreQueryError(
            f"at most one filter may be given, got {len(given)}: {', '.join(given)}"
        )
    return (given[0], params[given[0]]) if given else None


def limit(params: dict[str, str], page: PageLimit) -> int:
    raw = params.get("limit")
    if raw is None:
        return page.default
    maximum = page.maximum
    # Decimal digits only: int() alone would also take " 5", "+5" and "1_0".
    value = int(raw) if raw.isascii() and raw.isdigit() else 0
    if not 1 <= value <= maximum:
        raise StoreQueryError(f"limit={raw!r:.40} is not allowed: an integer 1..{maximum}")
    return value


def cursor(params: dict[str, str]) -> Cursor | None:
    raw = params.get("cursor")
    return None if raw is None else Cursor.decode(raw)


def shape(params: dict[str, str]) -> str:
    """The page shape asked for (`stepmetrics.store.endpoints.SHAPES`), default items."""
    raw = params.get(SHAPE_PARAM, ITEMS_SHAPE)
    if raw not in SHAPES:
        raise StoreQueryError(
            f"{SHAPE_PARAM}={raw!r:.40} is not allowed: one of {', '.join(SHAPES)}"
        )
    return raw
