"""The event contract: round trip, non-finite values, strict decoding."""

from __future__ import annotations

import math

import orjson
import pytest

from stepmetrics.producers.errors import EnvelopeError
from stepmetrics.producers.events import (
    KIND_LIST,
    KIND_SCALAR,
    MAX_ENVELOPE_BYTES,
    MAX_ENVELOPE_EVENTS,
    MAX_NAME_LENGTH,
    Envelope,
    check_name,
    decode_envelope,
    encode_envelope,
    to_wire,
)
from stepmetrics.producers.settings import BATCH_EVENTS


def make_envelope(events: list[tuple[str, str, int, object]]) -> Envelope:
    return Envelope(
        producer_id="p" * 32,
        seq=7,
        execution_id="exec-1",
        pipeline_name="pipe",
        deployment_name=None,
        events=list(events),
    )


def test_round_trip_keeps_everything_including_non_finite() -> None:
    wire = [to_wire(v) for v in [1.5, math.inf, -math.inf, math.nan, 3]]
    env = make_envelope(
        [
            (KIND_SCALAR, "loss", 1_700_000_000_000_001, to_wire(math.nan)),
            (KIND_LIST, "curve", 1_700_000_000_000_002, wire),
        ]
    )
    decoded = decode_envelope(encode_envelope(env))
    assert decoded.identity == "p" * 32 + ":7"
    assert decoded.key == b"exec-1"
    assert (decoded.execution_id, decoded.pipeline_name, decoded.deployment_name) == (
        "exec-1",
        "pipe",
        None,
    )
    scalar, lst = decoded.events
    assert scalar[:3] == (KIND_SCALAR, "loss", 1_700_000_000_000_001)
    assert math.isnan(scalar[3])
    values = lst[3]
    assert values[:3] == [1.5, math.inf, -math.inf]
    assert math.isnan(values[3])
    assert values[4] == 3.0
    assert all(type(v) is float for v in values)


def test_non_finite_travel_as_explicit_strings() -> None:
    raw = encode_envelope(make_envelope([(KIND_SCALAR, "x", 1, to_wire(math.inf))]))
    assert orjson.loads(raw)["ev"] == [["s", "x", 1, "Infinity"]]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.update(v=2), "unknown schema version 2"),
        (lambda d: d.pop("pid"), "'pid' must be a str, got NoneType"),
        (lambda d: d.update(pid="p\x00"), "'pid'='p\\x00' is not allowed"),
        (lambda d: d.update(pid="p" * 257), "1 to 256 characters"),
        (lambda d: d.update(seq=-1), "'seq' must be a non-negative integer"),
        (lambda d: d.update(seq=True), "'seq' must be a non-negative integer"),
        (lambda d: d.update(ev=[]), "'ev' must be a non-empty list"),
        (lambda d: d.update(ev=[["s", "x", 1]]), "event 0 must be [kind, name, ts_us, value]"),
        (lambda d: d.update(ev=[["q", "x", 1, 1.0]]), "unknown kind 'q'"),
        (lambda d: d.update(ev=[["s", "", 1, 1.0]]), "must not be empty"),
        (lambda d: d.update(ev=[["s", "x", 1.5, 1.0]]), "timestamp must be integer"),
        (lambda d: d.update(ev=[["s", "x", 1, True]]), "True is not a number"),
        (lambda d: d.update(ev=[["s", "x", 1, None]]), "None is not a number"),
        (lambda d: d.update(ev=[["s", "x", 1, "abc"]]), "'abc' is not a number"),
        (lambda d: d.update(ev=[["l", "x", 1, []]]), "non-empty list"),
        (lambda d: d.update(ev=[["l", "x", 1, [1, [2]]]]), "[2] is not a number"),
        (lambda d: d.update(dep=5), "'dep' must be a str, got int"),
        (lambda d: d.update(eid="a\nb"), "'eid'='a\\nb' is not allowed"),
        (lambda d: d.update(pipe="p" * 257), "1 to 256 characters"),
    ],
)
def test_decoding_is_strict_and_says_why(mutate: object, message: str) -> None:
    doc = orjson.loads(encode_envelope(make_envelope([(KIND_SCALAR, "x", 1, 1.0)])))
    mutate(doc)  # type: ignore[operator]
    with pytest.raises(EnvelopeError) as info:
        decode_envelope(orjson.dumps(doc))
    assert message in str(info.value)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"{nope", "not JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (b" " * (MAX_ENVELOPE_BYTES + 1), "exceeds"),
    ],
)
def test_garbage_is_rejected(data: bytes, message: str) -> None:
    with pytest.raises(EnvelopeError, match=message):
        decode_envelope(data)


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("accuracy", None),
        ("val/loss:ema é", None),
        ("", "must not be empty"),
        ("x" * 257, "at most 256"),
        ("bad\nname", "control characters"),
        (3, "must be a str, got int"),
    ],
)
def test_check_name(name: object, problem: str | None) -> None:
    result = check_name(name)
    if problem is None:
        assert result is None
    else:
        assert result is not None
        assert problem in result


def test_an_envelope_with_more_events_than_the_limit_is_refused() -> None:
    data = encode_envelope(make_envelope([(KIND_SCALAR, f"m{i}", 1, 1.0) for i in range(5)]))
    assert len(decode_envelope(data, max_events=5).events) == 5
    with pytest.raises(EnvelopeError) as info:
        decode_envelope(data, max_events=4)
    assert str(info.value) == (
        "envelope of 5 events exceeds the limit of 4 events per envelope "
        "(STEPMETRICS_MAX_ENVELOPE_EVENTS)"
    )
    assert isinstance(info.value, ValueError)


def test_the_default_event_limit_admits_every_default_sdk_envelope() -> None:
    assert BATCH_EVENTS.default <= MAX_ENVELOPE_EVENTS
    event: tuple[str, str, int, object] = (KIND_SCALAR, "x", 1, 1.0)
    full = encode_envelope(make_envelope([event] * BATCH_EVENTS.default))
    assert len(decode_envelope(full).events) == BATCH_EVENTS.default
    over = encode_envelope(make_envelope([event] * (MAX_ENVELOPE_EVENTS + 1)))
    with pytest.raises(EnvelopeError, match="exceeds the limit"):
        decode_envelope(over)


def test_names_are_limited_to_max_name_length() -> None:
    assert check_name("n" * MAX_NAME_LENGTH) is None
    assert f"at most {MAX_NAME_LENGTH}" in (check_name("n" * (MAX_NAME_LENGTH + 1)) or "")
