"""The coalescing of buffered events into envelopes under the size limits."""

from __future__ import annotations

import math

import pytest

from stepmetrics.producers.batcher import Batcher, Outgoing
from stepmetrics.producers.context import StepContext
from stepmetrics.producers.events import (
    KIND_LIST,
    KIND_SCALAR,
    MAX_ENVELOPE_BYTES,
    MAX_LIST_VALUES,
    WireEvent,
    decode_envelope,
)
from stepmetrics.producers.settings import MIN_BATCH_BYTES

CTX = StepContext("exec-1", "pipe", None)

Item = tuple[StepContext, str, str, int, object]


def build(batcher: Batcher, items: list[Item]) -> list[Outgoing]:
    return batcher.build([i[0] for i in items], [i[1:] for i in items])


def decode_all(out: list[Outgoing]) -> list[WireEvent]:
    events: list[WireEvent] = []
    for item in out:
        events.extend(decode_envelope(item.data).events)
    return events


def test_batcher_groups_per_execution_and_keeps_order() -> None:
    other = StepContext("exec-2", "pipe", "dep")
    same_as_ctx = StepContext("exec-1", "pipe", None)  # equal, another object
    items: list[Item] = [
        (CTX, "s", "a", 1, 1.0),
        (other, "l", "b", 2, [1.0, 2.0]),
        (same_as_ctx, "s", "a", 3, "NaN"),
        (CTX, "l", "c", 4, [3.0]),
    ]
    batcher = Batcher("p" * 32, MAX_ENVELOPE_BYTES, 100)
    out = build(batcher, items)
    assert [o.seq for o in out] == [0, 1]
    assert [o.key for o in out] == [b"exec-1", b"exec-2"]
    assert [o.values for o in out] == [3, 2]
    first = decode_envelope(out[0].data)
    assert first.identity == "p" * 32 + ":0"
    assert first.events[0] == ("s", "a", 1, 1.0)
    assert math.isnan(first.events[1][3])
    assert first.events[2] == ("l", "c", 4, [3.0])
    second = decode_envelope(out[1].data)
    assert (second.deployment_name, second.events) == ("dep", [("l", "b", 2, [1.0, 2.0])])
    # exec-1 has its own seq: 1 after its 0, although two envelopes were built
    later = build(batcher, [(CTX, "s", "a", 5, 2.0)])[0]
    assert (later.number, later.seq) == (2, 1)


def test_seq_increases_per_execution_and_restarts_above_after_eviction() -> None:
    batcher = Batcher("p" * 32, MAX_ENVELOPE_BYTES, 1, max_executions=2)
    a, b, c = (StepContext(eid, "pipe", None) for eid in ("a", "b", "c"))

    def seqs(ctx: StepContext, n: int) -> list[int]:
        return [o.seq for o in build(batcher, [(ctx, "s", "x", i, 1.0) for i in range(n)])]

    assert seqs(a, 3) == [0, 1, 2]
    assert seqs(b, 2) == [3, 4]  # a new counter starts at the envelopes built so far
    assert seqs(a, 1) == [3]
    assert seqs(c, 1) == [6]  # evicts b, the least recently used
    assert seqs(b, 1) == [7]  # made again: above 3 and 4, the seqs b used before
    assert [o.number for o in build(batcher, [(a, "s", "x", 0, 1.0)])] == [8]


def test_batcher_respects_event_limit() -> None:
    batcher = Batcher("p" * 32, MAX_ENVELOPE_BYTES, 3)
    out = build(batcher, [(CTX, "s", f"m{i}", i, float(i)) for i in range(7)])
    assert [len(decode_envelope(o.data).events) for o in out] == [3, 3, 1]
    assert [e[1] for e in decode_all(out)] == [f"m{i}" for i in range(7)]


def test_full_list_of_worst_case_values_is_split_under_the_limit() -> None:
    # The longest float64 repr: every envelope still fits the contract's limit.
    worst = [-2.2250738585072014e-308] * MAX_LIST_VALUES
    name = "é" * 256
    ctx = StepContext("x" * 256, "y" * 256, "z" * 256)
    out = build(Batcher("p" * 32, MAX_ENVELOPE_BYTES, 20_000), [(ctx, "l", name, 7, worst)])
    assert len(out) >= 2
    assert all(len(o.data) <= MAX_ENVELOPE_BYTES for o in out)
    events = decode_all(out)
    assert {(e[0], e[1], e[2]) for e in events} == {("l", name, 7)}
    assert sum(len(e[3]) for e in events) == MAX_LIST_VALUES
    assert sum(o.values for o in out) == MAX_LIST_VALUES


@pytest.mark.parametrize("max_bytes", [MIN_BATCH_BYTES, 50_000])
def test_small_budgets_mix_scalars_and_split_lists(max_bytes: int) -> None:
    items: list[Item] = [(CTX, "s", "s0", 0, 0.5)]
    items += [(CTX, "l", f"l{i}", i, [float(v) for v in range(3000)]) for i in range(3)]
    items += [(CTX, "s", "s1", 9, "Infinity")]
    out = build(Batcher("p" * 32, max_bytes, 20_000), items)
    assert all(len(o.data) <= max_bytes for o in out)
    events = decode_all(out)
    assert events[0] == ("s", "s0", 0, 0.5)
    assert events[-1] == ("s", "s1", 9, math.inf)
    for i in range(3):
        values = [v for e in events if e[1] == f"l{i}" for v in e[3]]
        assert values == [float(v) for v in range(3000)]


def test_many_scalars_are_recut_under_the_byte_limit() -> None:
    items: list[Item] = [(CTX, "s", f"metric-{i}", i, i / 7) for i in range(5000)]
    out = build(Batcher("p" * 32, 20_000, 100_000), items)
    assert len(out) > 5
    assert all(len(o.data) <= 20_000 for o in out)
    assert [o.seq for o in out] == list(range(len(out)))
    assert [(e[1], e[3]) for e in decode_all(out)] == [(f"metric-{i}", i / 7) for i in range(5000)]
    assert sum(o.values for o in out) == 5000


def test_an_event_that_cannot_be_encoded_fails_alone() -> None:
    # Validation refuses such names at the call; the batcher still must not
    # lose the rest of the round (or the buffer's count) to one of them.
    batcher = Batcher("p", 10_000, 100)
    bad = (KIND_LIST, "loss\ud800", 5, [1.0, 2.0])
    events = [
        (KIND_SCALAR, "a", 1, 1.0),
        bad,
        (KIND_SCALAR, "b", 2, 2.0),
        (KIND_SCALAR, "c", 3, 3.0),
    ]
    out = batcher.build([CTX] * len(events), events)
    assert batcher.failed_values == 2
    assert sum(o.values for o in out) == 3
    assert [e[1] for e in decode_all(out)] == ["a", "b", "c"]
    assert [o.seq for o in out] == list(range(len(out)))
