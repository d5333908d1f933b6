"""Property tests of the decoder: whatever a message holds, decoding either
returns a valid envelope or raises EnvelopeError with bounded text."""

from __future__ import annotations

import json
import math
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stepmetrics.producers.errors import EnvelopeError
from stepmetrics.producers.events import (
    KIND_LIST,
    KIND_SCALAR,
    Envelope,
    decode_envelope,
    encode_envelope,
    to_wire,
)
from stepmetrics.producers.excerpt import MAX_EXCERPT, excerpt

# Longest message the decoder may produce: a few excerpts and fixed words.
MAX_MESSAGE = 4 * MAX_EXCERPT + 200

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)
FIELDS = st.fixed_dictionaries(
    {},
    optional={
        "v": st.sampled_from([1, 2, "1", None]),
        "pid": st.text(max_size=8),
        "seq": st.integers(-2, 2**70),
        "eid": st.text(max_size=8),
        "pipe": st.text(max_size=8),
        "dep": st.none() | st.text(max_size=8),
        "ev": st.lists(
            st.lists(JSON, min_size=3, max_size=5)
            | st.tuples(st.sampled_from("sl"), st.text(max_size=5), st.integers(), JSON),
            max_size=4,
        ),
    },
)


def _check(data: bytes) -> None:
    problem = ""
    try:
        envelope = decode_envelope(data)
    except EnvelopeError as exc:
        problem = str(exc)
    if problem:
        assert len(problem) <= MAX_MESSAGE
    else:
        assert isinstance(envelope, Envelope)
        assert envelope.events


@given(st.binary(max_size=300))
def test_any_bytes(data: bytes) -> None:
    _check(data)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(FIELDS)
def test_any_envelope_shaped_document(doc: dict[str, Any]) -> None:
    _check(json.dumps(doc).encode())


def test_deep_nesting_is_refused_not_a_crash() -> None:
    # Past orjson's depth limit, and just under it (the old messages' repr
    # recursed through such values until RecursionError).
    for depth in (1_010, 1_000, 500):
        payload = "[" * depth + "]" * depth
        data = ('{"v":1,"pid":"p","seq":0,"eid":"e","pipe":"p","ev":[' + payload + "]}").encode()
        _check(data)
        data = (
            '{"v":1,"pid":"p","seq":0,"eid":"e","pipe":"p","ev":[["s","x",1,' + payload + "]]}"
        ).encode()
        _check(data)


def test_excerpt_is_bounded_and_never_raises() -> None:
    class Hostile:
        def __repr__(self) -> str:
            raise RuntimeError("no")

    nested: list[Any] = []
    for _ in range(5_000):
        nested = [nested]
    for value in (nested, "x" * 1_000_000, 10**10_000, Hostile(), {str(i): i for i in range(99)}):
        assert len(excerpt(value)) <= MAX_EXCERPT


FINITE_OR_NOT = st.floats() | st.sampled_from([math.nan, math.inf, -math.inf])
EVENTS = st.lists(
    st.tuples(
        st.just(KIND_SCALAR), st.text(min_size=1, max_size=5), st.integers(0, 2**53), FINITE_OR_NOT
    )
    | st.tuples(
        st.just(KIND_LIST),
        st.text(min_size=1, max_size=5),
        st.integers(0, 2**53),
        st.lists(FINITE_OR_NOT, min_size=1, max_size=5),
    ),
    min_size=1,
    max_size=5,
)


@given(EVENTS)
def test_what_the_sdk_encodes_decodes_to_the_same_numbers(events: list[Any]) -> None:
    names_ok = all(not any(ord(c) < 32 or 127 <= ord(c) <= 159 for c in e[1]) for e in events)
    wire = [
        (k, n, t, [to_wire(v) for v in val] if k == KIND_LIST else to_wire(val))
        for k, n, t, val in events
    ]
    data = encode_envelope(Envelope("p", 0, "e", "pipe", None, wire))
    if not names_ok:
        _check(data)
        return
    decoded = decode_envelope(data)
    for (_, _, _, got), (_, _, _, want) in zip(decoded.events, events, strict=True):
        got_values = got if isinstance(got, list) else [got]
        want_values = want if isinstance(want, list) else [want]
        assert [repr(g) for g in got_values] == [repr(float(w)) for w in want_values]
