"""Validation of query parameters: every mistake is a 400 that says what was
wrong and what is allowed."""

from __future__ import annotations

from collections.abc import Collection
from typing import Final

from starlette.datastructures import QueryParams

from stepmetrics.store.endpoints import PageLimit
from stepmetrics.store.errors import StoreQueryError
from stepmetrics.store.index import FILTERS, Filter
from stepmetrics.store.wire import Cursor

PAGING: Final = ("limit", "cursor")
MAX_PARAM_LENGTH: Final = 1024


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
        if not value or len(value) > MAX_PARAM_LENGTH:
            raise StoreQueryError(
                f"query parameter {key!r} must be 1..{MAX_PARAM_LENGTH} characters, "
                f"got {value!r:.80}"
            )
        found[key] = value
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
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if not 1 <= value <= maximum:
        raise StoreQueryError(f"limit={raw!r:.40} is not allowed: an integer 1..{maximum}")
    return value


def cursor(params: dict[str, str]) -> Cursor | None:
    raw = params.get("cursor")
    return None if raw is None else Cursor.decode(raw)
