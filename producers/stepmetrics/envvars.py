"""Environment variables as a table: name, default and parser, and one error wording.

Each settings class lists its variables as `EnvVar` rows and reads them all
with `read_env`; every bad value, unparsable or out of range, is worded by
`bad_value`. Empty means unset.

The one settings convention of every component (SDK, store, worker, stack):
a shared kernel below all of them that imports nothing of stepmetrics (the
import-linter layers in pyproject.toml enforce it), so the store and the SDK,
which may not import each other, still share one definition.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Generic, TypeVar

_T = TypeVar("_T")
# The password of `scheme://user:password@host` (also in `host` lists and in
# longer texts), and redis-py's `?password=` query parameter.
_USERINFO_PASSWORD: Final = re.compile(r"(?P<user>[^\s/@:,]*):[^\s/]*@")
_QUERY_PASSWORD: Final = re.compile(r"(?P<key>[?&]password=)[^&\s]*", re.IGNORECASE)
REDACTED: Final = "***"


@dataclass(frozen=True, slots=True)
class EnvVar(Generic[_T]):
    """One variable: its name, its default, how its text parses, and what it allows."""

    name: str
    default: _T
    parse: Callable[[str], _T]
    allowed: str


def redact(text: str) -> str:
    """`text` (a Redis or Kafka URL, a bootstrap list, a message holding them)
    with every URL password replaced by `***`: what may be logged or printed.

    `redis://user:secret@host` -> `redis://user:***@host`,
    `rediss://:secret@host` -> `rediss://:***@host`.
    """
    text = _USERINFO_PASSWORD.sub(rf"\g<user>:{REDACTED}@", text)
    return _QUERY_PASSWORD.sub(rf"\g<key>{REDACTED}", text)


def bad_value(name: str, value: object, allowed: str) -> str:
    """The one wording of a bad setting: `NAME='value' is not allowed: <allowed>`
    (passwords in the value redacted)."""
    shown = redact(value) if isinstance(value, str) else value
    return f"{name}={shown!r} is not allowed: {allowed}"


def read_env(
    table: Mapping[str, EnvVar[Any]], environ: Mapping[str, str], error: type[Exception]
) -> dict[str, Any]:
    """Parse every set variable of `table` (field -> variable); unset or empty ones are left out."""
    values: dict[str, Any] = {}
    for field, var in table.items():
        raw = environ.get(var.name, "")
        if raw == "":
            continue
        try:
            values[field] = var.parse(raw)
        except ValueError as exc:
            raise error(bad_value(var.name, raw, var.allowed)) from exc
    return values
