"""Facts the SDK and the store each define because they may not import each other.

The event contract (stepmetrics.producers.events) and the reader API's JSON
(stepmetrics.store.wire) are two public contracts that spell non-finite
numbers the same way.
"""

from __future__ import annotations

import math

import pytest

from stepmetrics.envvars import EnvVar, read_env
from stepmetrics.producers import events
from stepmetrics.store import wire


def test_both_contracts_spell_non_finite_numbers_alike() -> None:
    assert list(events.NON_FINITE_WIRE) == list(wire.NON_FINITE_WIRE)
    for name, value in events.NON_FINITE_WIRE.items():
        stored = wire.NON_FINITE_WIRE[name]
        assert (math.isnan(value) and math.isnan(stored)) or value == stored
        assert events.to_wire(value) == wire.to_wire(stored) == name


def test_the_settings_convention_words_every_bad_value_alike() -> None:
    table = {"field": EnvVar("V", 1, int, "an integer")}
    assert read_env(table, {}, ValueError) == {}
    assert read_env(table, {"V": ""}, ValueError) == {}
    assert read_env(table, {"V": "7"}, ValueError) == {"field": 7}
    with pytest.raises(ValueError, match=r"^V='seven' is not allowed: an integer$"):
        read_env(table, {"V": "seven"}, ValueError)
