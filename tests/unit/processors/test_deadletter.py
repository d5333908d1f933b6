"""Dead letters: the original message plus why and where it came from."""

from __future__ import annotations

from stepmetrics.processors.deadletter import MAX_DEAD_LETTER_BYTES, DeadLetter, RawMessage


def test_dead_letter_headers_keep_originals_and_add_reason_and_source() -> None:
    message = RawMessage("t", 3, 41, b"k", b"junk", (("trace", b"1"),))
    headers = dict(DeadLetter(message, "not JSON").headers())
    assert headers == {
        "trace": b"1",
        "stepmetrics-reason": b"not JSON",
        "stepmetrics-source-topic": b"t",
        "stepmetrics-source-partition": b"3",
        "stepmetrics-source-offset": b"41",
    }


def test_oversized_dead_letters_keep_only_their_head() -> None:
    message = RawMessage("t", 0, 1, None, b"x" * (MAX_DEAD_LETTER_BYTES + 5))
    letter = DeadLetter(message, "too big")
    assert letter.value == b"x" * MAX_DEAD_LETTER_BYTES
    assert dict(letter.headers())["stepmetrics-original-size"] == b"900005"
    assert DeadLetter(RawMessage("t", 0, 1, None, None), "empty").value is None
