"""The bounds of an exported envelope: what the worker's decoder and the producer take.

Derived from the step SDK's own variables, so an export never makes an
envelope the SDK could not send: `STEPMETRICS_BATCH_MAX_BYTES` and
`STEPMETRICS_MAX_REQUEST_BYTES` (less the Kafka record's overhead) bound the
bytes, `STEPMETRICS_BATCH_MAX_EVENTS` the events; a list event holds at most
`MAX_LIST_VALUES` values, like one `record_list_metric_values` call.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from stepmetrics.envvars import EnvVar, bad_value, read_env
from stepmetrics.producers.events import MAX_ENVELOPE_BYTES, MAX_ENVELOPE_EVENTS, MAX_LIST_VALUES
from stepmetrics.producers.settings import BATCH_BYTES, BATCH_EVENTS, MAX_REQUEST, MIN_BATCH_BYTES
from stepmetrics.stack.errors import StackSettingsError

# Kafka wraps a message in a record (key: the execution id, at most 1,024 UTF-8
# bytes) and a batch header; keep the envelope this far below max.request.size.
RECORD_OVERHEAD: Final = 2048


@dataclass(frozen=True, slots=True)
class EnvelopeLimits:
    """Bounds of every exported envelope."""

    max_bytes: int = MAX_ENVELOPE_BYTES
    max_events: int = BATCH_EVENTS.default
    max_list_values: int = MAX_LIST_VALUES

    def __post_init__(self) -> None:
        if not MIN_BATCH_BYTES <= self.max_bytes <= MAX_ENVELOPE_BYTES:
            raise StackSettingsError(
                f"an exported envelope may hold {self.max_bytes} bytes; allowed: "
                f"{MIN_BATCH_BYTES}..{MAX_ENVELOPE_BYTES} (raise {MAX_REQUEST.name})"
            )
        if not 1 <= self.max_events <= MAX_ENVELOPE_EVENTS:
            raise StackSettingsError(
                f"{self.max_events} events per envelope; allowed: 1..{MAX_ENVELOPE_EVENTS}"
            )
        if not 1 <= self.max_list_values <= MAX_LIST_VALUES:
            raise StackSettingsError(
                f"{self.max_list_values} values per list event; allowed: 1..{MAX_LIST_VALUES}"
            )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> EnvelopeLimits:
        """The bounds the SDK's variables give its own envelopes
        (`STEPMETRICS_BATCH_MAX_BYTES`, `..._BATCH_MAX_EVENTS`, `..._MAX_REQUEST_BYTES`)."""
        raw = read_env(_LIMIT_VARS, environ, StackSettingsError)
        size = raw.get("batch_max_bytes", BATCH_BYTES.default)
        request = raw.get("max_request_bytes", MAX_REQUEST.default)
        events = raw.get("batch_max_events", BATCH_EVENTS.default)
        if not MIN_BATCH_BYTES <= size <= MAX_ENVELOPE_BYTES:
            raise _bad(BATCH_BYTES, size, f"{MIN_BATCH_BYTES}..{MAX_ENVELOPE_BYTES}")
        if request - RECORD_OVERHEAD < MIN_BATCH_BYTES:
            raise _bad(MAX_REQUEST, request, f">= {MIN_BATCH_BYTES + RECORD_OVERHEAD}")
        if not 1 <= events <= MAX_ENVELOPE_EVENTS:
            raise _bad(BATCH_EVENTS, events, f"1..{MAX_ENVELOPE_EVENTS}")
        return cls(max_bytes=min(size, request - RECORD_OVERHEAD), max_events=events)


_LIMIT_VARS: Final[dict[str, EnvVar[Any]]] = {
    "batch_max_bytes": BATCH_BYTES,
    "batch_max_events": BATCH_EVENTS,
    "max_request_bytes": MAX_REQUEST,
}


def _bad(var: EnvVar[Any], value: object, allowed: str) -> StackSettingsError:
    return StackSettingsError(bad_value(var.name, value, allowed))
