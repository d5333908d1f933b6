"""Bounded, safe text for a bad value in an error message.

A message from the topic or a user's call can hold anything: a list nested
1,000 levels deep (plain `repr` recurses until RecursionError), a 900 kB
string, an integer of 10,000 digits (`repr` refuses it). `excerpt` never
raises, never recurses deeper than a few levels and never returns more than
`MAX_EXCERPT` characters, whatever the value.
"""

from __future__ import annotations

import reprlib
from typing import Final

MAX_EXCERPT: Final = 80


def _bounded_repr() -> reprlib.Repr:
    short = reprlib.Repr()
    short.maxlevel = 3
    short.maxtuple = short.maxlist = short.maxarray = 6
    short.maxdict = short.maxset = short.maxfrozenset = short.maxdeque = 4
    short.maxstring = 60
    short.maxlong = short.maxother = 40
    return short


_REPR: Final = _bounded_repr()


def excerpt(value: object) -> str:
    """A short, safe `repr`-like excerpt of `value` (at most MAX_EXCERPT characters)."""
    try:
        text = _REPR.repr(value)
    except Exception:  # noqa: BLE001 - a hostile __repr__ or a huge int: say so, never fail
        text = f"<unprintable {type(value).__name__}>"
    if len(text) > MAX_EXCERPT:
        text = text[: MAX_EXCERPT - 3] + "..."
    return text
