"""Call-site validation: turn what a step passes into wire-form values, or raise.

Everything is checked before anything is queued, and one bad value in a list
rejects the whole call. Accepted: `int`, `float`, other real numbers (numpy
integer and floating scalars, `fractions.Fraction`), and for lists also tuples,
other sequences and 1-D numpy arrays of those. Rejected with a message naming
the metric and the value: `bool`, `None`, `str`, `complex`, nested sequences.
NaN and ±inf are valid and travel in wire form (see `events.to_wire`).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from numbers import Real
from typing import Any, Final, cast

from stepmetrics.producers.errors import InvalidMetricError, InvalidMetricTypeError
from stepmetrics.producers.events import WireNumber, check_name, to_wire
from stepmetrics.producers.excerpt import excerpt

ALLOWED: Final = "int, float or a numpy integer/floating number (NaN and ±inf included)"
# Names seen valid, so the regex runs once per name; bounded like any cache.
# The recorder's hot path reads it directly.
_NAME_CACHE_SIZE: Final = 4096
valid_names: set[str] = set()
_FLOAT_ONLY: Final = frozenset({float})
_FLOAT_OR_INT: Final = frozenset({float, int})


def check_metric_name(name: object) -> str:
    """Return `name` if it is a valid metric name, else raise saying why."""
    if type(name) is str and name in valid_names:
        return name
    problem = check_name(name)
    if problem is not None:
        error = InvalidMetricTypeError if not isinstance(name, str) else InvalidMetricError
        raise error(problem)
    valid = cast(str, name)  # check_name accepted it, so it is a str
    if len(valid_names) < _NAME_CACHE_SIZE:
        valid_names.add(valid)
    return valid


def scalar_value(name: str, value: object) -> WireNumber:
    """Validate one metric value and return its wire form."""
    kind = type(value)
    if kind is float:
        number: float = value  # type: ignore[assignment]
    else:
        number = _to_float(name, value, None)
    # x - x is 0.0 for every finite x and NaN for NaN and ±inf.
    if number - number == 0.0:
        return number
    return to_wire(number)


def list_values(name: str, values: object) -> list[WireNumber]:
    """Validate a number or a sequence of numbers; return a new wire-form list."""
    kind = type(values)
    if kind is list or kind is tuple:
        items: Sequence[Any] = values  # type: ignore[assignment]
    else:
        array = _numpy_array(values)
        if array is not None:
            return _from_array(name, array)
        if isinstance(values, Real) and not isinstance(values, bool):
            return [scalar_value(name, values)]
        if isinstance(values, Sequence) and not isinstance(values, str | bytes | bytearray):
            items = values
        else:
            raise InvalidMetricTypeError(
                f"metric {excerpt(name)}: values {excerpt(values)} ({type(values).__name__}) "
                "are not "
                f"a number or a sequence of numbers; allowed: {ALLOWED}, or a list, tuple "
                "or 1-D numpy array of them"
            )
    return _finite_or_wire(_floats(name, items))


def _floats(name: str, items: Sequence[Any]) -> list[float]:
    types = set(map(type, items))
    if types <= _FLOAT_ONLY:
        return list(items)
    if types <= _FLOAT_OR_INT:
        try:
            return [float(v) for v in items]
        except OverflowError:
            pass  # the per-value scan below names the offending int
    return [_to_float(name, v, i) for i, v in enumerate(items)]


def _finite_or_wire(out: list[float]) -> list[WireNumber]:
    # The sum of finite floats is finite unless it overflows; then scan.
    if math.isfinite(sum(out)):
        return out  # type: ignore[return-value]
    return [to_wire(v) for v in out]


def _to_float(name: str, value: object, index: int | None) -> float:
    where = "" if index is None else f" at index {index}"
    if isinstance(value, bool) or not isinstance(value, Real):
        array = _numpy_array(value)
        if array is not None and array.ndim == 0 and array.dtype.kind in "fiu":
            return _to_float(name, array.item(), index)
        raise InvalidMetricTypeError(
            f"metric {excerpt(name)}: value {excerpt(value)}{where} is a {type(value).__name__}; "
            f"allowed: {ALLOWED}"
        )
    try:
        return float(value)
    except OverflowError as exc:
        raise InvalidMetricError(
            f"metric {excerpt(name)}: value {excerpt(value)}{where} is too large for a float64; "
            f"allowed: {ALLOWED}"
        ) from exc


def _numpy_array(value: object) -> Any:
    """`value` if it is a numpy array (without importing numpy), else None."""
    numpy = sys.modules.get("numpy")
    if numpy is not None and isinstance(value, numpy.ndarray):
        return value
    return None


def _from_array(name: str, array: Any) -> list[WireNumber]:
    kind = array.dtype.kind
    if array.ndim == 0:
        return [scalar_value(name, array)]
    if array.ndim > 1:
        raise InvalidMetricTypeError(
            f"metric {excerpt(name)}: a {array.ndim}-D array of shape {array.shape} is nested; "
            "allowed: a 1-D array"
        )
    if kind == "O":
        return list_values(name, array.tolist())
    if kind not in "fiu":
        raise InvalidMetricTypeError(
            f"metric {excerpt(name)}: an array of dtype {array.dtype} is not numeric; allowed: "
            "integer or floating dtypes"
        )
    if array.dtype.name != "float64":
        array = array.astype("float64")
    return _finite_or_wire(array.tolist())
