"""The handler cuts a fetched batch into Redis round trips by size."""

from __future__ import annotations

from stepmetrics.processors.deadletter import RawMessage
from stepmetrics.processors.handler import MAX_ROUND_TRIP_BYTES, _chunks


def test_batches_split_into_round_trips_by_size() -> None:
    big = MAX_ROUND_TRIP_BYTES // 2 + 1
    messages = [RawMessage("t", 0, i, None, b"x" * big) for i in range(5)]
    chunks = _chunks(messages)
    assert [len(c) for c in chunks] == [1, 1, 1, 1, 1]
    small = [RawMessage("t", 0, i, None, b"x") for i in range(5)]
    assert [len(c) for c in _chunks(small)] == [5]
