"""The worker's batch step, without Faust or Redis."""

from __future__ import annotations

from stepmetrics.processors.deadletter import RawMessage
from stepmetrics.processors.handler import MAX_ROUND_TRIP_BYTES, WorkerCounters, _chunks
from stepmetrics.store.stats import ApplyCounts


def test_batches_split_into_round_trips_by_size() -> None:
    big = MAX_ROUND_TRIP_BYTES // 2 + 1
    messages = [RawMessage("t", 0, i, None, b"x" * big) for i in range(5)]
    chunks = _chunks(messages)
    assert [len(c) for c in chunks] == [1, 1, 1, 1, 1]
    small = [RawMessage("t", 0, i, None, b"x") for i in range(5)]
    assert [len(c) for c in _chunks(small)] == [5]


def test_the_log_line_names_every_counter_once() -> None:
    counters = WorkerCounters(messages=7, dead_lettered=2, retries=1)
    counters.applied += ApplyCounts(3, 1, 9, 4, 0)
    counters.applied += ApplyCounts(envelopes_applied=1)
    assert counters.summary() == (
        "messages=7 envelopes_applied=4 duplicates_skipped=1 events_applied=9 "
        "list_values_appended=4 values_dropped_by_cap=0 envelopes_refused=0 "
        "scalar_events_dropped_by_name_cap=0 list_values_dropped_by_name_cap=0 "
        "dead_lettered=2 retries=1"
    )
