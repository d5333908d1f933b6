"""Times, non-finite numbers and cursors on the wire."""

from __future__ import annotations

import math
import re

import pytest

from stepmetrics.store.errors import StoreQueryError
from stepmetrics.store.wire import (
    CURSOR_PATTERN,
    MAX_CURSOR_LENGTH,
    Cursor,
    from_wire,
    iso_us,
    iso_us_many,
    list_from_wire,
    list_to_wire,
    to_wire,
)


def test_iso_us_is_utc_with_microseconds_and_z() -> None:
    assert iso_us(0) == "1970-01-01T00:00:00.000000Z"
    assert iso_us(1_764_000_000_123_456) == "2025-11-24T16:00:00.123456Z"
    assert iso_us(1_764_000_001_000_001) == "2025-11-24T16:00:01.000001Z"


def test_iso_us_many_matches_iso_us_on_both_paths() -> None:
    fast = [1_764_000_000_123_456, 1_764_000_000_999_999, 1_764_000_001_000_000, 10**6]
    assert iso_us_many([str(t) for t in fast]) == [iso_us(t) for t in fast]
    # Fewer than 7 digits, a leading zero, a sign: the exact per-item path.
    odd = ["0", "999999", "01764000000000001", "+5"]
    assert iso_us_many(odd) == [iso_us(int(s)) for s in odd]
    assert iso_us_many([]) == []
    with pytest.raises(ValueError, match="invalid literal"):
        iso_us_many(["1764000000000000", "17640000x0000000"])


def test_non_finite_numbers_round_trip() -> None:
    wire = [to_wire(v) for v in (1.5, math.nan, math.inf, -math.inf)]
    assert wire == [1.5, "NaN", "Infinity", "-Infinity"]
    back = [from_wire(v) for v in wire]
    assert back[0] == 1.5
    assert math.isnan(back[1])
    assert back[2:] == [math.inf, -math.inf]
    assert list_to_wire([1.0, math.inf]) == [1.0, "Infinity"]
    finite = [0.1, 2.0]
    assert list_to_wire(finite) is finite  # the fast path copies nothing
    assert list_to_wire([1e308, 1e308]) == [1e308, 1e308]  # the sum overflows, values do not
    assert list_from_wire([1.0, "-Infinity"]) == [1.0, -math.inf]
    with pytest.raises(StoreQueryError, match="'nope' is not a number"):
        from_wire("nope")


def test_cursor_round_trip_and_refusals() -> None:
    cursor = Cursor(1_764_000_000_000_000, "exéc/1", "naïve name")
    assert Cursor.decode(cursor.encode()) == cursor
    assert cursor.position == (1_764_000_000_000_000, "exéc/1")
    for bad in ("", "!!!", "W10", "WyJhIiwiYiIsImMiXQ", "x" * 3000):
        with pytest.raises(StoreQueryError, match="is not valid"):
            Cursor.decode(bad)


def test_every_cursor_of_the_documented_form_is_a_position() -> None:
    # The OpenAPI document gives CURSOR_PATTERN: all it allows, the API accepts.
    assert Cursor.decode("0..") == Cursor(0, "", "")
    assert Cursor.decode("-12.__8.YQ") == Cursor(-12, "\ufffd\ufffd", "a")
    longest = Cursor(10**18, "\U0001f600" * 256, "\U0001f600" * 256).encode()
    assert len(longest) <= MAX_CURSOR_LENGTH
    assert re.fullmatch(CURSOR_PATTERN, longest)
    for bad in ("1.a.b", "1.abcde.", "x.a.b", "1.a", "1.YQ.YQ.YQ", "1.YQ.YQ\n"):
        with pytest.raises(StoreQueryError, match="is not valid"):
            Cursor.decode(bad)
