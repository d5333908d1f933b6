"""Dead letters: the original message plus why and where it came from, within a budget."""

from __future__ import annotations

import pytest

from stepmetrics.processors.deadletter import (
    MIN_DEAD_LETTER_BYTES,
    TRUNCATED_HEADER,
    DeadLetter,
    DeadLetterKind,
    RawMessage,
)

BUDGET = 960_000
KIND = DeadLetterKind.INVALID_ENVELOPE


def test_dead_letter_headers_keep_originals_and_add_reason_and_source() -> None:
    message = RawMessage("t", 3, 41, b"k", b"junk", (("trace", b"1"),))
    record = DeadLetter(message, "not JSON", KIND).fit(BUDGET)
    assert (record.key, record.value) == (b"k", b"junk")
    assert dict(record.headers) == {
        "trace": b"1",
        "stepmetrics-reason": b"not JSON",
        "stepmetrics-source-topic": b"t",
        "stepmetrics-source-partition": b"3",
        "stepmetrics-source-offset": b"41",
    }


def test_a_huge_key_and_value_are_cut_to_the_budget_and_say_so() -> None:
    key, value = b"k" * 150_000, b"v" * 900_000
    message = RawMessage("t", 0, 1, key, value, (("h", b"x" * 500_000),))
    record = DeadLetter(message, "too big", KIND).fit(BUDGET)
    assert record.size <= BUDGET
    assert record.size > BUDGET - 200  # cut, not emptied
    assert record.key == key  # a quarter of the room holds it whole
    assert record.value is not None
    assert value.startswith(record.value)
    headers = dict(record.headers)
    assert "h" not in headers  # more than a quarter of the room: dropped
    assert headers[TRUNCATED_HEADER] == b"key=150000,value=900000,headers=500001"
    assert headers["stepmetrics-reason"] == b"too big"


@pytest.mark.parametrize("budget", [MIN_DEAD_LETTER_BYTES, 10_000, BUDGET])
def test_any_message_fits_any_allowed_budget(budget: int) -> None:
    headers = tuple((f"h{i}", b"y" * 1000) for i in range(2000))
    message = RawMessage("t" * 249, 2**31, 2**63, b"k" * 2_000_000, None, headers)
    record = DeadLetter(message, "é" * 5000, KIND).fit(budget)
    assert record.size <= budget
    assert record.value is None
    reason = dict(record.headers)["stepmetrics-reason"]
    assert reason is not None
    assert len(reason) <= 1000
    reason.decode()  # a cut never splits a character
    assert dict(record.headers)[TRUNCATED_HEADER] == b"key=2000000,value=-1,headers=2008890"


def test_null_key_and_value_stay_null() -> None:
    record = DeadLetter(RawMessage("t", 0, 1, None, None), "empty", KIND).fit(BUDGET)
    assert (record.key, record.value) == (None, None)
    assert TRUNCATED_HEADER not in dict(record.headers)
