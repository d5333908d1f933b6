"""Call-site validation: what the SDK accepts, what it rejects and how it says so."""

from __future__ import annotations

import math
from collections.abc import Callable
from fractions import Fraction
from typing import Any

import numpy as np
import pytest

from stepmetrics.producers.errors import InvalidMetricError, InvalidMetricTypeError
from stepmetrics.producers.validation import check_metric_name, list_values, scalar_value


def assert_refused(
    check: Callable[[str, Any], object],
    name: str,
    value: object,
    error: type[Exception],
    shown: str,
) -> None:
    """`check(name, value)` raises `error`, naming the metric (quoted) and showing `shown`."""
    with pytest.raises(error) as info:
        check(name, value)
    message = str(info.value)
    assert repr(name) in message
    assert shown in message


@pytest.mark.parametrize(
    ("value", "wire"),
    [
        (0.1409, 0.1409),
        (3, 3.0),
        (-(2**62), float(-(2**62))),
        (np.float32(0.5), 0.5),
        (np.float64(1 / 3), 1 / 3),
        (np.int64(7), 7.0),
        (np.uint8(255), 255.0),
        (Fraction(1, 4), 0.25),
        (np.array(2.5), 2.5),
        (math.inf, "Infinity"),
        (-math.inf, "-Infinity"),
        (math.nan, "NaN"),
        (np.float32("nan"), "NaN"),
    ],
)
def test_scalar_values_accepted_in_wire_form(value: object, wire: object) -> None:
    result = scalar_value("m", value)
    assert result == wire
    assert type(result) is type(wire)


@pytest.mark.parametrize(
    ("value", "error", "shown"),
    [
        (True, InvalidMetricTypeError, "True"),
        (np.bool_(False), InvalidMetricTypeError, "False"),
        (None, InvalidMetricTypeError, "None"),
        ("0.5", InvalidMetricTypeError, "'0.5'"),
        (1 + 2j, InvalidMetricTypeError, "(1+2j)"),
        ([1.0], InvalidMetricTypeError, "[1.0]"),
        (10**400, InvalidMetricError, "too large"),
    ],
)
def test_scalar_values_rejected_naming_metric_and_value(
    value: object, error: type[Exception], shown: str
) -> None:
    assert_refused(scalar_value, "val/loss", value, error, shown)


def test_errors_are_value_and_type_errors() -> None:
    assert issubclass(InvalidMetricError, ValueError)
    assert issubclass(InvalidMetricTypeError, TypeError)


@pytest.mark.parametrize(
    ("values", "wire"),
    [
        ([0.89, 0.92, 0.95], [0.89, 0.92, 0.95]),
        ((1.4, 1.2), [1.4, 1.2]),
        ([1, 2.5], [1.0, 2.5]),
        (math.log(3), [math.log(3)]),
        (4, [4.0]),
        ([], []),
        (range(3), [0.0, 1.0, 2.0]),
        ([np.float32(0.5), np.int16(2)], [0.5, 2.0]),
        (np.array([1.5, 2.5]), [1.5, 2.5]),
        (np.array([1, 2], dtype=np.int32), [1.0, 2.0]),
        (np.array([0.5], dtype=np.float16), [0.5]),
        (np.array(3.0), [3.0]),
        ([1.0, math.nan, math.inf, -math.inf], [1.0, "NaN", "Infinity", "-Infinity"]),
        (np.array([math.nan, 1.0]), ["NaN", 1.0]),
        ([1e308, 1e308], [1e308, 1e308]),  # the sum overflows; the values are finite
    ],
)
def test_list_values_accepted_in_wire_form(values: Any, wire: list[object]) -> None:
    result = list_values("m", values)
    assert result == wire
    assert [type(v) for v in result] == [type(v) for v in wire]


def test_list_values_are_copied() -> None:
    values = [1.0, 2.0]
    result = list_values("m", values)
    values.append(3.0)
    assert result == [1.0, 2.0]


@pytest.mark.parametrize(
    ("values", "error", "shown"),
    [
        ([1.0, True], InvalidMetricTypeError, "True at index 1"),
        ([1.0, None, 2.0], InvalidMetricTypeError, "None at index 1"),
        (["1.0"], InvalidMetricTypeError, "'1.0' at index 0"),
        ([1.0, [2.0]], InvalidMetricTypeError, "[2.0] at index 1"),
        ([1j], InvalidMetricTypeError, "1j at index 0"),
        ([1, 10**400], InvalidMetricError, "at index 1 is too large"),
        ("abc", InvalidMetricTypeError, "'abc'"),
        (None, InvalidMetricTypeError, "None"),
        (True, InvalidMetricTypeError, "True"),
        ({1.0: 2.0}, InvalidMetricTypeError, "{1.0: 2.0}"),
        (np.array([[1.0, 2.0]]), InvalidMetricTypeError, "shape (1, 2)"),
        (np.array([True]), InvalidMetricTypeError, "dtype bool"),
        (np.array([1j]), InvalidMetricTypeError, "dtype complex128"),
        (np.array([1.0, None], dtype=object), InvalidMetricTypeError, "None at index 1"),
    ],
)
def test_one_bad_value_rejects_the_whole_list(
    values: object, error: type[Exception], shown: str
) -> None:
    assert_refused(list_values, "loss_list", values, error, shown)


@pytest.mark.parametrize(
    ("name", "error", "shown"),
    [
        ("", InvalidMetricError, "must not be empty"),
        ("x" * 257, InvalidMetricError, "at most 256"),
        ("a\tb", InvalidMetricError, "control characters"),
        ("loss\ud800", InvalidMetricError, "lone surrogate; allowed: text that UTF-8 can encode"),
        (None, InvalidMetricTypeError, "got NoneType None"),
        (42, InvalidMetricTypeError, "got int 42"),
    ],
)
def test_bad_names_rejected(name: object, error: type[Exception], shown: str) -> None:
    with pytest.raises(error, match=shown.replace("(", r"\(")):
        check_metric_name(name)


def test_good_names_pass_twice() -> None:
    # The second call hits the cache of valid names.
    assert check_metric_name("x" * 256) == "x" * 256
    assert check_metric_name("x" * 256) == "x" * 256
    assert check_metric_name("val/loss é") == "val/loss é"
