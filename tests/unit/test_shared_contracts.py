"""Facts the SDK and the store each define because they may not import each other.

The event contract (stepmetrics.producers.events) and the reader API's JSON
(stepmetrics.store.wire) are two public contracts that spell non-finite
numbers the same way; the two settings helpers word bad values the same way.
"""

from __future__ import annotations

import math

import pytest

from stepmetrics.producers import envvars as producer_env
from stepmetrics.producers import events
from stepmetrics.store import envvars as store_env
from stepmetrics.store import wire


def test_both_contracts_spell_non_finite_numbers_alike() -> None:
    assert list(events.NON_FINITE_WIRE) == list(wire.NON_FINITE_WIRE)
    for name, value in events.NON_FINITE_WIRE.items():
        stored = wire.NON_FINITE_WIRE[name]
        assert (math.isnan(value) and math.isnan(stored)) or value == stored
        assert events.to_wire(value) == wire.to_wire(stored) == name


@pytest.mark.parametrize("environ", [{}, {"V": ""}, {"V": "7"}, {"V": "seven"}])
def test_both_settings_helpers_read_and_word_alike(environ: dict[str, str]) -> None:
    answers = []
    for helper in (producer_env, store_env):
        table = {"field": helper.EnvVar("V", 1, int, "an integer")}
        try:
            answers.append(helper.read_env(table, environ, ValueError))
        except ValueError as exc:
            answers.append(str(exc))
    assert answers[0] == answers[1]
    assert producer_env.bad_value("V", "x", "y") == store_env.bad_value("V", "x", "y")
    assert producer_env.bad_value("V", "x", "y") == "V='x' is not allowed: y"
