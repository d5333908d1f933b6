"""The batch reduction that precedes every Redis write (no Redis needed)."""

from __future__ import annotations

import math
import struct

from stepmetrics.processors.writes.limits import WriteLimits
from stepmetrics.processors.writes.reduce import (
    group_by_execution,
    group_by_origin,
    pack_values,
    plan_batch,
    reduce_envelope,
)
from stepmetrics.producers.events import Envelope
from stepmetrics.store.keys import RedisKeys

T = 1_764_150_000_000_000


def envelope(events: list[tuple[str, str, int, object]], seq: int = 0, eid: str = "e1") -> Envelope:
    return Envelope("p", seq, eid, "pipe", None, events)


def test_last_recorded_scalar_wins_within_an_envelope() -> None:
    reduced = reduce_envelope(
        envelope([("s", "loss", T + 1, 3.0), ("s", "loss", T + 2, 2.0), ("s", "loss", T, 9.0)])
    )
    assert reduced.scalars == {"loss": (T + 2, 1, 2.0)}
    assert (reduced.min_ts, reduced.max_ts, reduced.n_events) == (T, T + 2, 3)


def test_timestamp_tie_goes_to_the_later_record_call() -> None:
    reduced = reduce_envelope(envelope([("s", "a", T, 1.0), ("s", "a", T, 2.0)]))
    assert reduced.scalars["a"] == (T, 1, 2.0)


def test_list_values_concatenate_in_record_order_with_first_timestamp() -> None:
    reduced = reduce_envelope(
        envelope([("l", "x", T + 5, [1.0, 2.0]), ("s", "x", T + 6, 0.5), ("l", "x", T + 7, [3.0])])
    )
    first_ts, values = reduced.lists["x"]
    assert (first_ts, values.tolist(), list(reduced.lists)) == (T + 5, [1.0, 2.0, 3.0], ["x"])
    assert reduced.scalars == {"x": (T + 6, 1, 0.5)}


def test_values_pack_as_little_endian_float64() -> None:
    packed = pack_values([1.5, -math.inf, 2.0])
    assert packed == struct.pack("<3d", 1.5, -math.inf, 2.0)


def test_grouping_keeps_order_within_each_execution() -> None:
    batch = [envelope([("s", "a", T, 1.0)], seq=i, eid=f"e{i % 2}") for i in range(5)]
    groups = group_by_execution(batch)
    assert [e.seq for e in groups["e0"]] == [0, 2, 4]
    assert [e.seq for e in groups["e1"]] == [1, 3]


def test_plan_lays_out_keys_and_arguments_for_the_script() -> None:
    keys = RedisKeys("pfx")
    first = envelope([("s", "acc", T + 3, 0.25), ("l", "curve", T + 1, [1.0])], seq=7)
    second = envelope([("l", "curve", T + 9, [2.0]), ("s", "acc", T + 2, math.nan)], seq=8)
    (plan,) = plan_batch(keys, [first, second], WriteLimits(list_values=50_000))
    assert plan.keys == [
        keys.meta("e1"),
        keys.scalar_values("e1"),
        keys.scalar_orders("e1"),
        keys.list_created("e1"),
        keys.list_dropped("e1"),
        keys.seq("e1"),
        keys.applied("e1"),
        keys.tombstone("e1"),
        keys.list_values("e1", "curve"),
    ]
    assert plan.args == [
        "pipe", "", 50_000, 2, 1, 1_000, 10_000, 10_000, "curve",
        "p:7", 2, T + 1, T + 3, 1, 1, "acc", T + 3, 7, 0, "0.25", 1, 1, T + 1, pack_values([1.0]),
        "p:8", 2, T + 2, T + 9, 1, 1, "acc", T + 2, 8, 1, "nan", 1, 1, T + 9, pack_values([2.0]),
    ]  # fmt: skip
    assert (plan.min_ts, plan.n_events) == (T + 1, 4)
    assert plan.scalar_names == {"acc"}
    assert plan.list_names == ["curve"]
    assert plan.pipelines == {"pipe"}
    assert plan.deployments == set()


def _hash_tag(key: str) -> str:
    """The part of a key Redis Cluster hashes (the first `{...}`)."""
    start = key.index("{")
    return key[start + 1 : key.index("}", start + 1)]


def test_each_script_call_touches_one_cluster_slot() -> None:
    batch = [
        envelope([("s", "loss", T, 1.0), ("l", "curve", T, [1.0, 2.0])], seq=1, eid="run/1"),
        envelope([("l", "other", T + 1, [3.0])], seq=2, eid="run-2"),
    ]
    plans = plan_batch(RedisKeys("p"), batch, WriteLimits())
    assert {plan.execution_id for plan in plans} == {"run/1", "run-2"}
    for plan in plans:
        assert {_hash_tag(key) for key in plan.keys} == {plan.execution_id}


def test_one_execution_is_split_by_pipeline_and_deployment_in_order() -> None:
    def origin(seq: int, pipeline: str, deployment: str | None) -> Envelope:
        return Envelope("p", seq, "e1", pipeline, deployment, [("s", "a", T, 1.0)])

    batch = [origin(0, "a", None), origin(1, "b", None), origin(2, "a", None), origin(3, "a", "d")]
    groups = group_by_origin(batch)
    assert [[e.seq for e in group] for group in groups] == [[0, 2], [1], [3]]
    plans = plan_batch(RedisKeys("p"), batch, WriteLimits())
    assert [plan.args[:2] for plan in plans] == [["a", ""], ["b", ""], ["a", "d"]]
    assert [plan.envelopes for plan in plans] == groups


def test_scalar_events_are_counted_per_name() -> None:
    reduced = reduce_envelope(
        envelope([("s", "a", T, 1.0), ("s", "b", T, 2.0), ("s", "a", T + 1, 3.0)])
    )
    assert reduced.scalar_events == {"a": 2, "b": 1}
