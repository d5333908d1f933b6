"""Downsampling a list metric to buckets keeps every extreme and non-finite value."""

from __future__ import annotations

import math
import random
import time
from array import array

import pytest

from stepmetrics.store.downsample import FINITE, NAN, NEG_INF, POS_INF, downsample


def packed(values: list[float]) -> bytes:
    return array("d", values).tobytes()


def test_a_range_of_at_most_n_values_is_exact_one_bucket_per_value() -> None:
    values = [0.5, math.nan, math.inf, -math.inf, -0.0, 1e-300, 1 / 3, 1.7e308]
    found = downsample(packed(values), 16)
    assert (found.length, found.start, found.end, found.count) == (8, 0, 8, 8)
    assert list(found.flags) == [FINITE, NAN, POS_INF, NEG_INF, FINITE, FINITE, FINITE, FINITE]
    assert found.last.tolist()[4:] == [-0.0, 1e-300, 1 / 3, 1.7e308]
    assert math.copysign(1, found.last[4]) == -1
    assert found.minimum.tolist()[0] == found.maximum.tolist()[0] == 0.5
    assert all(math.isnan(found.last[i]) for i in (1, 2, 3))


def test_buckets_keep_min_max_last_and_markers_of_what_they_cover() -> None:
    values = [float(i) for i in range(1000)]
    values[123] = 1e9  # a spike
    values[456] = math.nan
    values[789] = -math.inf
    found = downsample(packed(values), 100)
    assert found.count == 100
    assert found.maximum[12] == 1e9
    assert found.minimum[12] == 120.0
    assert found.last[12] == 129.0
    assert found.flags[45] == NAN | FINITE
    assert found.flags[78] == NEG_INF | FINITE
    assert found.minimum[78] == 780.0  # -inf is a marker, not the minimum
    assert sum(1 for f in found.flags if f != FINITE) == 2


def test_a_bucket_of_only_non_finite_values_has_nan_statistics() -> None:
    found = downsample(packed([math.nan] * 40 + [math.inf] * 40 + [1.0] * 40), 16, 0, 80)
    assert found.count == 16
    assert {f for f in found.flags} == {NAN, POS_INF}
    assert all(math.isnan(v) for v in found.maximum)


def test_an_index_range_is_reduced_alone_and_clamped_to_the_length() -> None:
    values = [float(i) for i in range(50)]
    found = downsample(packed(values), 16, 10, 30)
    assert (found.start, found.end, found.count) == (10, 30, 16)
    assert found.minimum[0] == 10.0
    assert found.last[-1] == 29.0
    found = downsample(packed(values), 16, 40, 10_000)
    assert (found.start, found.end, found.count) == (40, 50, 10)
    assert found.last.tolist() == values[40:]
    empty = downsample(packed(values), 16, 60, 70)
    assert (empty.start, empty.end, empty.count, empty.packed()) == (50, 50, 0, b"")


def test_every_bucket_agrees_with_a_plain_reading() -> None:
    rng = random.Random(7)
    values = [rng.gauss(0, 1) for _ in range(5003)]
    for i in rng.sample(range(5003), 30):
        values[i] = rng.choice([math.nan, math.inf, -math.inf, 1e306])
    found = downsample(packed(values), 333)
    span = len(values)
    for b in range(found.count):
        chunk = values[b * span // 333 : (b + 1) * span // 333]
        finite = [v for v in chunk if math.isfinite(v)]
        assert found.minimum[b] == min(finite)
        assert found.maximum[b] == max(finite)
        assert found.last[b] == finite[-1]
        assert bool(found.flags[b] & NAN) == any(v != v for v in chunk)


def test_packed_answer_is_min_max_last_then_flags() -> None:
    found = downsample(packed([1.0, 2.0, math.nan]), 16)
    blob = found.packed()
    assert array("d", blob[:72]).tolist()[:2] == [1.0, 2.0]
    assert blob[72:] == bytes([FINITE, FINITE, NAN])


@pytest.mark.parametrize("buckets", [1000, 4000])
def test_50000_values_are_reduced_in_a_few_milliseconds(buckets: int) -> None:
    blob = packed([math.sin(i / 100) for i in range(50_000)])
    started = time.perf_counter()
    for _ in range(10):
        downsample(blob, buckets)
    assert (time.perf_counter() - started) / 10 < 0.05
