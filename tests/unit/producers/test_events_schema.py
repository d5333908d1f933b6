"""docs/envelope.schema.json is the event contract for other languages: every
envelope the SDK writes validates, and the schema's limits are the code's."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from stepmetrics.producers.batcher import Batcher
from stepmetrics.producers.context import StepContext
from stepmetrics.producers.errors import EnvelopeError
from stepmetrics.producers.events import (
    KIND_LIST,
    KIND_SCALAR,
    MAX_NAME_LENGTH,
    NON_FINITE_WIRE,
    SCHEMA_VERSION,
    WireEvent,
    decode_envelope,
)
from stepmetrics.producers.validation import check_metric_name, list_values, scalar_value

SCHEMA: dict[str, Any] = orjson.loads(
    (Path(__file__).resolve().parents[3] / "docs" / "envelope.schema.json").read_bytes()
)
VALIDATOR = Draft202012Validator(SCHEMA)
NAMES = st.text(
    st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=MAX_NAME_LENGTH
)
NUMBERS = st.floats() | st.integers(-(2**53), 2**53) | st.sampled_from([math.nan, -math.inf])
RECORDS = st.lists(
    st.tuples(st.booleans(), NAMES, st.lists(NUMBERS, min_size=1, max_size=30)),
    min_size=1,
    max_size=40,
)
CONTEXTS = st.builds(StepContext, NAMES, NAMES, st.none() | NAMES)


def test_the_schema_is_valid_and_states_the_codes_limits() -> None:
    Draft202012Validator.check_schema(SCHEMA)
    assert SCHEMA["properties"]["v"]["const"] == SCHEMA_VERSION
    for definition in ("id", "name"):
        assert SCHEMA["$defs"][definition]["maxLength"] == MAX_NAME_LENGTH
    assert SCHEMA["$defs"]["number"]["oneOf"][1]["enum"] == list(NON_FINITE_WIRE)
    kinds = [SCHEMA["$defs"][e]["prefixItems"][0]["const"] for e in ("scalarEvent", "listEvent")]
    assert kinds == [KIND_SCALAR, KIND_LIST]


@given(CONTEXTS, RECORDS, st.integers(1, 50))
def test_every_envelope_the_sdk_writes_validates(
    ctx: StepContext, records: list[tuple[bool, str, list[float]]], max_events: int
) -> None:
    events: list[WireEvent] = []
    for ts, (is_list, name, values) in enumerate(records):
        check_metric_name(name)
        if is_list:
            events.append((KIND_LIST, name, ts, list_values(name, values)))
        else:
            events.append((KIND_SCALAR, name, ts, scalar_value(name, values[0])))
    out = Batcher("0f" * 16, 900_000, max_events).build([ctx] * len(events), events)
    assert out
    for outgoing in out:
        errors = list(VALIDATOR.iter_errors(orjson.loads(outgoing.data)))
        assert errors == []


@pytest.mark.parametrize(
    "change",
    [
        {"v": 2},
        {"seq": -1},
        {"eid": ""},
        {"dep": "a\nb"},
        {"ev": []},
        {"ev": [["s", "x", 1, None]]},
        {"ev": [["l", "x", 1, []]]},
        {"ev": [["s", "x", -1, 1.0]]},
        {"ev": [["s", "x", 1, 1.0, "extra"]]},
        {"ev": [["q", "x", 1, 1.0]]},
    ],
)
def test_what_the_decoder_refuses_the_schema_refuses(change: dict[str, Any]) -> None:
    doc = {"v": 1, "pid": "p", "seq": 0, "eid": "e", "pipe": "p", "dep": None}
    doc["ev"] = [["s", "x", 1, "NaN"]]
    assert VALIDATOR.is_valid(doc)
    decode_envelope(orjson.dumps(doc))
    doc.update(change)
    assert not VALIDATOR.is_valid(doc)
    with pytest.raises(EnvelopeError):
        decode_envelope(orjson.dumps(doc))
