"""Server-side downsampling of one list metric: N buckets that keep every spike.

A list (or the index range `start`..`end` of it) is cut into `count` buckets of
consecutive indices; bucket `i` holds the indices
`start + i * span // count` .. `start + (i + 1) * span // count - 1`, where
`span = end - start` and `count = min(buckets, span)`. So when the range holds
at most `buckets` values, each bucket is exactly one value.

Each bucket keeps the minimum, maximum and last of its finite values (NaN when
it holds none) and `flags`, a bit mask of what it holds: `NAN` 1, `POS_INF` 2,
`NEG_INF` 4, `FINITE` 8. A chart drawn from them shows every extreme and every
non-finite value of the range. `non_finite` counts the NaN and infinite
values of the range.

Sans-I/O and without numpy (not a dependency of the `api` extra): the values
are the packed little-endian float64 bytes Redis stores; the non-finite ones
are found by a C-speed scan of the top byte of each value, and each bucket's
minimum and maximum are `min`/`max` over an `array` slice.
"""

from __future__ import annotations

import bisect
import math
import re
import sys
from array import array
from dataclasses import dataclass
from typing import Final

NAN: Final = 1
POS_INF: Final = 2
NEG_INF: Final = 4
FINITE: Final = 8
# How many buckets a request may ask for, and how many it gets without asking.
MIN_BUCKETS: Final = 16
MAX_BUCKETS: Final = 4000
DEFAULT_BUCKETS: Final = 1000
# The largest `start` or `end` accepted (far above any list's length).
MAX_INDEX: Final = 1_000_000_000
# NaN and the infinities have every exponent bit set: their top byte is 0x7f
# or 0xff (a few huge finite values share it and are sorted out by isfinite).
_MAYBE_NON_FINITE: Final = re.compile(rb"[\x7f\xff]")


@dataclass(frozen=True, slots=True)
class Buckets:
    """The buckets of `start`..`end` of a list of `length` values."""

    length: int
    start: int
    end: int
    minimum: array[float]
    maximum: array[float]
    last: array[float]
    flags: bytes
    non_finite: int

    @property
    def count(self) -> int:
        return len(self.flags)

    def packed(self) -> bytes:
        """minimum, maximum, last (float64 little-endian each), then flags (a byte each)."""
        parts = [self.minimum, self.maximum, self.last]
        if sys.byteorder == "big":  # pragma: no cover - the test machines are little-endian
            parts = [array("d", a) for a in parts]
            for a in parts:
                a.byteswap()
        return b"".join(a.tobytes() for a in parts) + self.flags


def _values(packed: bytes) -> array[float]:
    values = array("d")
    values.frombytes(packed[: len(packed) - len(packed) % 8])
    if sys.byteorder == "big":  # pragma: no cover - the test machines are little-endian
        values.byteswap()
    return values


def _non_finite(packed: bytes, values: array[float], start: int, end: int) -> list[int]:
    """The sorted indices in start..end-1 of the NaN and infinite values."""
    top = packed[7::8]
    return [
        m.start()
        for m in _MAYBE_NON_FINITE.finditer(top, start, end)
        if not math.isfinite(values[m.start()])
    ]


def _flags_of(values: array[float], indices: list[int]) -> int:
    flags = 0
    for i in indices:
        v = values[i]
        flags |= NAN if v != v else POS_INF if v > 0 else NEG_INF
    return flags


def downsample(packed: bytes, buckets: int, start: int = 0, end: int | None = None) -> Buckets:
    """Reduce the packed float64 `packed` (indices `start`..`end`, end clamped
    to the length) to at most `buckets` buckets (see the module docstring)."""
    values = _values(packed)
    length = len(values)
    end = length if end is None else min(end, length)
    start = min(start, end)
    span = end - start
    count = min(buckets, span)
    bad = _non_finite(packed, values, start, end)
    lows, highs, lasts = array("d", bytes(8 * count)), array("d"), array("d")
    highs.extend(lows)
    lasts.extend(lows)
    flags = bytearray(count)
    for b in range(count):
        lo, hi = start + b * span // count, start + (b + 1) * span // count
        first_bad = bisect.bisect_left(bad, lo)
        stop_bad = bisect.bisect_left(bad, hi, first_bad)
        if first_bad == stop_bad:
            chunk = values[lo:hi]
            flag = FINITE
        else:
            chunk = array("d", (v for v in values[lo:hi] if math.isfinite(v)))
            flag = _flags_of(values, bad[first_bad:stop_bad]) | (FINITE if chunk else 0)
        if chunk:
            lows[b], highs[b], lasts[b] = min(chunk), max(chunk), chunk[-1]
        else:
            lows[b] = highs[b] = lasts[b] = math.nan
        flags[b] = flag
    return Buckets(length, start, end, lows, highs, lasts, bytes(flags), len(bad))
