"""The bounds one execution is held to by the write model.

The worker is shared by every execution: none may grow without bound. A list
keeps at most `list_values` values (the rest are dropped and counted per list);
an execution keeps at most `scalar_names` distinct scalar and `list_names`
distinct list metrics: the events of a name that is new beyond that are dropped
and counted (in `P:stats` and in the execution's meta), while the names it
already has keep being updated. It accepts envelopes of at most `producers`
producers (each costs one field of its dedup state): an envelope of one more is
refused and dead-lettered. The worker reads them from its settings
(`stepmetrics.processors.settings`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from stepmetrics.producers.events import MAX_LIST_VALUES

MAX_SCALAR_NAMES: Final = 10_000
MAX_LIST_NAMES: Final = 10_000
MAX_PRODUCERS: Final = 1_000


@dataclass(frozen=True, slots=True)
class WriteLimits:
    """Per-execution limits (each >= 1)."""

    list_values: int = MAX_LIST_VALUES
    scalar_names: int = MAX_SCALAR_NAMES
    list_names: int = MAX_LIST_NAMES
    producers: int = MAX_PRODUCERS

    def __post_init__(self) -> None:
        for name in ("list_values", "scalar_names", "list_names", "producers"):
            value = getattr(self, name)
            if type(value) is not int or value < 1:
                raise ValueError(
                    f"WriteLimits.{name}={value!r} is not allowed; allowed: an integer >= 1"
                )
