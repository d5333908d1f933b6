"""The write model against a plain-Python model of its semantics (hypothesis).

Random envelopes from a few producers over a few executions, delivered
interleaved, locally out of order (within the seq window the SDK keeps, see
docs/events.md), with duplicates and a full replay, go through the real
`MetricsWriter` on a real redis-server in several batches. What Redis holds
must equal `expected_state` (each distinct envelope applied once, in delivery
order: scalars last-write-wins by (ts_us, seq, idx), lists concatenated up to
the 50,000 cap with drops counted), and the counts must add up.
"""

from __future__ import annotations

import itertools

import redis.asyncio as aioredis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stepmetrics.processors.writes.writer import MetricsWriter
from stepmetrics.producers.events import MAX_LIST_VALUES, Envelope, WireEvent
from stepmetrics.store.keys import RedisKeys
from stepmetrics.store.stats import ApplyCounts
from tests.support.metrics_state import actual_state, expected_state

T = 1_764_150_000_000_000
PRODUCERS = ("p1", "p2", "p3")
EXECUTIONS = ("e1", "e2")
# Big lists now and then, so that the 50,000 cap bites within a few envelopes.
LIST_SIZES = st.sampled_from([1, 2, 3, 17_000, 26_000])
_examples = itertools.count()


@st.composite
def events(draw: st.DrawFn) -> list[WireEvent]:
    out: list[WireEvent] = []
    for _ in range(draw(st.integers(1, 3))):
        name = draw(st.sampled_from(["a", "b", "c"]))
        ts = T + draw(st.integers(0, 3))  # few timestamps: ties on ts are common
        if draw(st.booleans()):
            out.append(("s", name, ts, float(draw(st.integers(-9, 9)))))
        else:
            size = draw(LIST_SIZES)
            out.append(("l", name, ts, [float(draw(st.integers(0, 9)))] * size))
    return out


@st.composite
def stream(draw: st.DrawFn, pid: str, eid: str) -> list[Envelope]:
    """One (producer, execution): consecutive seqs, shuffled in small chunks."""
    start = draw(st.integers(0, 100))  # a counter starts at the producer's total
    envelopes = [
        Envelope(pid, start + i, eid, "train", None, draw(events()))
        for i in range(draw(st.integers(0, 6)))
    ]
    chunk = draw(st.integers(1, 4))
    shuffled: list[Envelope] = []
    for i in range(0, len(envelopes), chunk):
        shuffled += draw(st.permutations(envelopes[i : i + chunk]))
    return shuffled


@st.composite
def deliveries(draw: st.DrawFn) -> list[Envelope]:
    """Streams interleaved, then copies of delivered envelopes re-delivered later."""
    streams = [draw(stream(pid, eid)) for pid in PRODUCERS for eid in EXECUTIONS]
    tags = draw(st.permutations([n for n, s in enumerate(streams) for _ in s]))
    cursors = [iter(s) for s in streams]
    delivered = [next(cursors[tag]) for tag in tags]
    for _ in range(draw(st.integers(0, 4))):
        if delivered:
            source = draw(st.integers(0, len(delivered) - 1))
            at = draw(st.integers(source + 1, len(delivered)))
            delivered.insert(at, delivered[source])
    return delivered


def batches(envelopes: list[Envelope], cuts: list[int]) -> list[list[Envelope]]:
    bounds = sorted({0, len(envelopes), *(c % (len(envelopes) + 1) for c in cuts)})
    return [envelopes[a:b] for a, b in itertools.pairwise(bounds)]


def expected_counts(envelopes: list[Envelope]) -> tuple[int, int, int]:
    """(applied, duplicates, events applied) of delivering `envelopes` in order."""
    distinct = {(e.execution_id, e.identity): e for e in envelopes}
    n_events = sum(len(e.events) for e in distinct.values())
    return len(distinct), len(envelopes) - len(distinct), n_events


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(delivered=deliveries(), cuts=st.lists(st.integers(0, 200), max_size=4))
async def test_the_writer_matches_the_model(
    redis_client: aioredis.Redis, redis_keys: RedisKeys, delivered: list[Envelope], cuts: list[int]
) -> None:
    keys = RedisKeys(f"{redis_keys.prefix}-{next(_examples)}")  # fresh state per example
    writer = MetricsWriter(redis_client, keys)
    total = ApplyCounts()
    for batch in batches(delivered, cuts):
        total += await writer.apply(batch)
    expected = expected_state(delivered)
    assert await actual_state(redis_client, keys, sorted(expected)) == expected
    applied, duplicates, n_events = expected_counts(delivered)
    assert (total.envelopes_applied, total.duplicates_skipped) == (applied, duplicates)
    assert total.events_applied == n_events
    kept = sum(len(v) for ex in expected.values() for v in ex.lists.values())
    dropped = sum(n for ex in expected.values() for n in ex.dropped.values())
    assert (total.list_values_appended, total.values_dropped_by_cap) == (kept, dropped)
    assert all(len(v) <= MAX_LIST_VALUES for ex in expected.values() for v in ex.lists.values())
    # A full replay by a restarted worker (new writer) changes nothing.
    replay = ApplyCounts()
    for batch in batches(delivered, cuts[::-1]):
        replay += await MetricsWriter(redis_client, keys).apply(batch)
    assert replay == ApplyCounts(duplicates_skipped=len(delivered))
    assert await actual_state(redis_client, keys, sorted(expected)) == expected
