"""An export's envelope bounds come from the SDK's variables, checked by name."""

from __future__ import annotations

import pytest

from stepmetrics.stack.errors import StackSettingsError
from stepmetrics.stack.export_limits import RECORD_OVERHEAD, EnvelopeLimits


def test_defaults_are_the_sdks() -> None:
    assert EnvelopeLimits.from_env({}) == EnvelopeLimits(max_bytes=900_000, max_events=20_000)


def test_the_request_size_bounds_the_envelope_below_it() -> None:
    limits = EnvelopeLimits.from_env({"STEPMETRICS_MAX_REQUEST_BYTES": "100000"})
    assert limits.max_bytes == 100_000 - RECORD_OVERHEAD


@pytest.mark.parametrize(
    ("name", "value", "allowed"),
    [
        ("STEPMETRICS_BATCH_MAX_BYTES", "100", "8192..900000"),
        ("STEPMETRICS_MAX_REQUEST_BYTES", "9000", f">= {8192 + RECORD_OVERHEAD}"),
        ("STEPMETRICS_BATCH_MAX_EVENTS", "0", "1..50000"),
        ("STEPMETRICS_BATCH_MAX_EVENTS", "many", "an integer"),
    ],
)
def test_a_bad_value_names_the_variable(name: str, value: str, allowed: str) -> None:
    with pytest.raises(StackSettingsError) as caught:
        EnvelopeLimits.from_env({name: value})
    assert str(caught.value).startswith(f"{name}=")
    assert str(caught.value).endswith(f"is not allowed: {allowed}")
