"""The event contract: what one Kafka message on the metrics topic holds.

One message is a versioned *envelope* carrying a batch of metric events of ONE
execution; its Kafka key is the execution id, so an execution stays ordered in
one partition. `(execution_id, producer_id, seq)` identifies an envelope
globally (seq increases per producer AND execution), which lets the processor
apply each envelope exactly once. See docs/events.md.

Events travel as compact JSON arrays, in the exact form the SDK buffers them:

    ["s", name, ts_us, value]     a scalar metric value
    ["l", name, ts_us, [values]]  values appended to a list metric

JSON has no NaN or infinities (orjson would write null), so non-finite floats
travel as the strings "NaN", "Infinity" and "-Infinity".
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Final, TypeAlias

import orjson

from stepmetrics.producers.errors import EnvelopeError
from stepmetrics.producers.excerpt import excerpt

SCHEMA_VERSION: Final = 1
KIND_SCALAR: Final = "s"
KIND_LIST: Final = "l"
MAX_NAME_LENGTH: Final = 256
MAX_LIST_VALUES: Final = 50_000
# The processor applies a seq of an execution up to this far below the highest
# one applied (a late retry); the SDK keeps its unsettled envelopes within it.
SEQ_WINDOW: Final = 32
# Kafka's default max.message.bytes is 1 MiB; stay under it with headroom.
MAX_ENVELOPE_BYTES: Final = 900_000
# The decoder's default bound of events per envelope (the worker's setting
# STEPMETRICS_MAX_ENVELOPE_EVENTS); at least the SDK's STEPMETRICS_BATCH_MAX_EVENTS
# default (20,000), so a default SDK's envelopes always pass.
MAX_ENVELOPE_EVENTS: Final = 50_000

# The one spelling of non-finite numbers in the event contract (the reader
# API's JSON spells them alike: stepmetrics.store.wire, checked by a test).
NON_FINITE_WIRE: Final[dict[str, float]] = {
    "NaN": math.nan,
    "Infinity": math.inf,
    "-Infinity": -math.inf,
}
_NAN, _INF, _NEG_INF = NON_FINITE_WIRE
_NON_FINITE_ALLOWED: Final = ", ".join(map(repr, NON_FINITE_WIRE))

WireNumber: TypeAlias = float | int | str
# A buffered/wire event: (kind, name, ts_us, value-or-values), see module doc.
WireEvent: TypeAlias = tuple[str, str, int, Any]
_CONTROL_CHARS: Final = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def to_wire(value: float) -> WireNumber:
    """Encode one float for JSON; finite numbers pass through unchanged."""
    if value != value:  # NaN is the only value unequal to itself
        return _NAN
    if value in (math.inf, -math.inf):
        return _INF if value > 0 else _NEG_INF
    return value


@dataclass(frozen=True, slots=True)
class Envelope:
    """A decoded (or to-be-encoded) message of the metrics topic.

    `events` hold wire-form values when built by a producer and plain floats
    (non-finite restored) once decoded.
    """

    producer_id: str
    seq: int
    execution_id: str
    pipeline_name: str
    deployment_name: str | None
    events: list[WireEvent]

    @property
    def identity(self) -> str:
        """Id of this envelope within its execution: `producer_id:seq` (seq
        counts per execution, so only with the execution id is it global)."""
        return f"{self.producer_id}:{self.seq}"

    @property
    def key(self) -> bytes:
        """The Kafka message key: the execution id."""
        return self.execution_id.encode()


def encode_envelope(envelope: Envelope) -> bytes:
    """Serialize an envelope whose event values are already in wire form."""
    return orjson.dumps(
        {
            "v": SCHEMA_VERSION,
            "pid": envelope.producer_id,
            "seq": envelope.seq,
            "eid": envelope.execution_id,
            "pipe": envelope.pipeline_name,
            "dep": envelope.deployment_name,
            "ev": envelope.events,
        }
    )


def decode_envelope(data: bytes, max_events: int = MAX_ENVELOPE_EVENTS) -> Envelope:
    """Parse and strictly validate one message; raise `EnvelopeError` saying why.

    An envelope of more than `max_events` events is refused whole.

    Raises nothing else, whatever `data` holds: any other exception on the way
    is a bug this function turns into an `EnvelopeError` (and so a dead
    letter), never one that stops the consumer.
    """
    try:
        return _decode(data, max_events)
    except EnvelopeError:
        raise
    except Exception as exc:
        raise EnvelopeError(
            f"undecodable envelope: {type(exc).__name__}: {excerpt(str(exc))}"
        ) from exc


def _decode(data: bytes, max_events: int = MAX_ENVELOPE_EVENTS) -> Envelope:
    if len(data) > MAX_ENVELOPE_BYTES:
        raise EnvelopeError(f"envelope of {len(data)} bytes exceeds {MAX_ENVELOPE_BYTES}")
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise EnvelopeError(f"not JSON: {exc}") from exc
    if not isinstance(doc, dict):
        raise EnvelopeError(f"envelope must be a JSON object, got {type(doc).__name__}")
    version = doc.get("v")
    if version != SCHEMA_VERSION:
        raise EnvelopeError(
            f"unknown schema version {excerpt(version)}; supported: {SCHEMA_VERSION}"
        )
    raw_events = doc.get("ev")
    if not isinstance(raw_events, list) or not raw_events:
        raise EnvelopeError(f"'ev' must be a non-empty list of events, got {excerpt(raw_events)}")
    if len(raw_events) > max_events:
        raise EnvelopeError(
            f"envelope of {len(raw_events)} events exceeds the limit of {max_events} "
            "events per envelope (STEPMETRICS_MAX_ENVELOPE_EVENTS)"
        )
    # A batch repeats the same few names thousands of times: check each once.
    valid_names: set[str] = set()
    return Envelope(
        producer_id=_field_id(doc, "pid"),
        seq=_field_seq(doc),
        execution_id=_field_id(doc, "eid"),
        pipeline_name=_field_id(doc, "pipe"),
        deployment_name=None if doc.get("dep") is None else _field_id(doc, "dep"),
        events=[_decode_event(i, raw, valid_names) for i, raw in enumerate(raw_events)],
    )


def _field_id(doc: dict[str, Any], key: str) -> str:
    value = doc.get(key)
    problem = check_id(f"'{key}'", value)
    if problem or not isinstance(value, str):
        raise EnvelopeError(problem)
    return value


def _field_seq(doc: dict[str, Any]) -> int:
    seq = doc.get("seq")
    if type(seq) is not int or seq < 0:
        raise EnvelopeError(f"'seq' must be a non-negative integer, got {excerpt(seq)}")
    return seq


def _decode_event(index: int, raw: Any, valid_names: set[str]) -> WireEvent:
    if not isinstance(raw, list) or len(raw) != 4:
        raise EnvelopeError(f"event {index} must be [kind, name, ts_us, value], got {excerpt(raw)}")
    kind, name, ts_us, payload = raw
    if type(name) is not str or name not in valid_names:
        problem = check_name(name)
        if problem:
            raise EnvelopeError(f"event {index}: {problem}")
        valid_names.add(name)
    if type(ts_us) is not int or ts_us < 0:
        raise EnvelopeError(
            f"event {index} ({excerpt(name)}): timestamp must be integer µs, got {excerpt(ts_us)}"
        )
    if kind == KIND_SCALAR:
        return (kind, name, ts_us, _from_wire(index, name, payload))
    if kind == KIND_LIST:
        if not isinstance(payload, list) or not payload:
            raise EnvelopeError(
                f"event {index} ({excerpt(name)}): list values must be a "
                f"non-empty list, got {excerpt(payload)}"
            )
        return (kind, name, ts_us, _list_from_wire(index, name, payload))
    raise EnvelopeError(f"event {index}: unknown kind {excerpt(kind)}; allowed: 's', 'l'")


def _list_from_wire(index: int, name: str, values: list[Any]) -> list[float]:
    # Fast path first: one C-level pass over the types instead of a call per value.
    kinds = set(map(type, values))
    if kinds == {float}:
        return values
    if kinds <= {float, int}:
        return [float(v) for v in values]
    return [_from_wire(index, name, v) for v in values]


def _from_wire(index: int, name: str, value: Any) -> float:
    kind = type(value)
    if kind is float:
        return value  # type: ignore[no-any-return]
    if kind is int:
        return float(value)
    if kind is str and value in NON_FINITE_WIRE:
        return NON_FINITE_WIRE[value]
    raise EnvelopeError(
        f"event {index} ({excerpt(name)}): {excerpt(value)} is not a number; "
        f"allowed: JSON numbers, {_NON_FINITE_ALLOWED}"
    )


def check_name(name: object) -> str | None:
    """Return why `name` is not a valid metric name, or None if it is."""
    if not isinstance(name, str):
        return f"metric name must be a str, got {type(name).__name__} {excerpt(name)}"
    if not name:
        return "metric name must not be empty"
    if len(name) > MAX_NAME_LENGTH:
        return (
            f"metric name {excerpt(name[:40])}... is {len(name)} characters; "
            f"at most {MAX_NAME_LENGTH}"
        )
    if _CONTROL_CHARS.search(name):
        return f"metric name {excerpt(name)} contains control characters"
    if not _is_utf8(name):
        return f"metric name {excerpt(name)} is not valid text: {_UTF8_ONLY}"
    return None


def check_id(field: str, value: object) -> str | None:
    """Return why `value` is not a valid execution id, pipeline or deployment
    name (`field` names which), or None if it is."""
    if not isinstance(value, str):
        return f"{field} must be a str, got {type(value).__name__} {excerpt(value)}"
    if not value or len(value) > MAX_NAME_LENGTH or _CONTROL_CHARS.search(value):
        return (
            f"{field}={excerpt(value)} is not allowed; allowed: 1 to {MAX_NAME_LENGTH} "
            "characters without control characters"
        )
    if not _is_utf8(value):
        return f"{field}={excerpt(value)} is not valid text: {_UTF8_ONLY}"
    return None


_UTF8_ONLY: Final = "it holds a lone surrogate; allowed: text that UTF-8 can encode"


def _is_utf8(text: str) -> bool:
    """False for text with lone surrogates (JSON and Kafka keys need UTF-8)."""
    if text.isascii():
        return True
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True
