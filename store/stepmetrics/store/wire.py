"""JSON wire helpers shared by the reader API and the query library.

Standard library only: the query library (the base install) imports this
module without redis or starlette.

- Times: `iso_us(ts_us)` gives ISO 8601 UTC with microseconds and a `Z`;
  `iso_us_many` formats many decimal stamps at once (the cold path of a big
  page: record times of one execution share seconds, so the date part is
  formatted once per second, not per item).
- Numbers: JSON has no NaN or infinities, so they travel as the strings
  "NaN", "Infinity", "-Infinity" (as in the event contract) and are turned back
  into floats by `from_wire_*`.
- Cursors: opaque URL-safe strings holding the position of the last item of a
  page: (index score, execution id, metric name), as
  `<score>.<base64url id>.<base64url name>`. Every string of that form
  (`CURSOR_PATTERN`) is a position, so the API refuses only malformed ones.
"""

from __future__ import annotations

import base64
import math
import re
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final

from stepmetrics.store.errors import StoreQueryError

# The one spelling of non-finite numbers in the reader API's JSON (the event
# contract spells them alike: stepmetrics.producers.events, checked by a test).
NON_FINITE_WIRE: Final[dict[str, float]] = {
    "NaN": math.nan,
    "Infinity": math.inf,
    "-Infinity": -math.inf,
}
_NAN, _INF, _NEG_INF = NON_FINITE_WIRE
# Ids and names of up to 256 characters (the event contract's limit) need
# at most 2 * 1,366 base64 characters; the rest is the score.
MAX_CURSOR_LENGTH: Final = 4096
_B64: Final = "(?:[A-Za-z0-9_-]{4})*(?:[A-Za-z0-9_-]{2,3})?"
CURSOR_PATTERN: Final = rf"^-?[0-9]{{1,19}}\.{_B64}\.{_B64}$"
_CURSOR_RE: Final = re.compile(CURSOR_PATTERN.replace("$", r"\Z"))


@lru_cache(maxsize=8192)
def _iso_seconds(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))


def iso_us(ts_us: int) -> str:
    """Format microseconds since the epoch as `YYYY-MM-DDTHH:MM:SS.ffffffZ`."""
    seconds, micros = divmod(ts_us, 1_000_000)
    return f"{_iso_seconds(seconds)}.{micros:06d}Z"


class _SecondPrefixes(dict[str, str]):
    """Decimal seconds -> "YYYY-MM-DDTHH:MM:SS.", filled on first use."""

    def __missing__(self, seconds: str) -> str:
        prefix = self[seconds] = _iso_seconds(int(seconds)) + "."
        return prefix


def iso_us_many(stamps: list[str]) -> list[str]:
    """`iso_us` of many decimal µs stamps (as stored in Redis), in order.

    Raises:
        ValueError: a stamp is not a decimal integer.
    """
    # Fast path (C-speed checks first): plain ASCII digits, at least 7 of
    # them, so the last 6 are the microseconds and the rest the seconds.
    if stamps and min(map(len, stamps)) > 6:
        joined = "".join(stamps)
        if joined.isascii() and joined.isdigit():
            prefixes = _SecondPrefixes()
            return [f"{prefixes[s[:-6]]}{s[-6:]}Z" for s in stamps]
    return [iso_us(int(s)) for s in stamps]


def to_wire(value: float) -> float | str:
    """One float in JSON form: non-finite values become their string names."""
    if value - value == 0.0:  # false only for NaN and the infinities
        return value
    if value != value:
        return _NAN
    return _INF if value > 0 else _NEG_INF


def list_to_wire(values: list[float]) -> list[Any]:
    """A list of floats in JSON form, cheap when every value is finite."""
    total = sum(values)
    if total - total == 0.0:  # all finite (an overflow to inf takes the slow path)
        return values
    return [to_wire(v) for v in values]


def from_wire(value: Any) -> float:
    """Decode one JSON number or non-finite name back into a float."""
    if type(value) is str:
        try:
            return NON_FINITE_WIRE[value]
        except KeyError:
            raise StoreQueryError(f"{value!r:.80} is not a number") from None
    return float(value)


def list_from_wire(values: list[Any]) -> list[float]:
    """Decode a JSON list of numbers, cheap when no value is a string."""
    try:
        sum(values)  # raises TypeError as soon as a string is mixed in
    except TypeError:
        return [from_wire(v) for v in values]
    return values


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where a page ended: the last item's index score, execution and name."""

    score: int
    execution_id: str
    name: str = ""

    @property
    def position(self) -> tuple[int, str]:
        """The execution's position in its index: (score, execution id)."""
        return (self.score, self.execution_id)

    def encode(self) -> str:
        return f"{self.score}.{_b64(self.execution_id)}.{_b64(self.name)}"

    @classmethod
    def decode(cls, text: str) -> Cursor:
        """Parse a cursor made by `encode`; raise `StoreQueryError` if it is not one."""
        if len(text) > MAX_CURSOR_LENGTH or not _CURSOR_RE.match(text):
            raise StoreQueryError(
                f"cursor {text[:40]!r} is not valid: pass next_cursor of a previous page"
            )
        score, execution_id, name = text.split(".")
        return cls(int(score), _unb64(execution_id), _unb64(name))


def _b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _unb64(text: str) -> str:
    # Any bytes are a position: undecodable ones sort where U+FFFD does.
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode(errors="replace")
