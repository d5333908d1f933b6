"""End to end: SDK (step child) -> broker -> worker -> Redis, until queryable.

Throughput counts from the step's first record call until the last value is
visible in Redis (then every value is checked); latency gives each paced
event its own record time as its value and polls Redis for it.
"""

from __future__ import annotations

import struct
import time
from typing import Final, cast

from benchmarks.children import STEP
from benchmarks.harness import dataset
from benchmarks.harness.runner import (
    Measurement,
    Scale,
    finish_child,
    measure,
    peak_rss_mib,
    percentile,
    repeat,
    start_child,
)
from stepmetrics.producers.events import MAX_LIST_VALUES
from tests.support.services import BenchStack

FAMILY: Final = "e2e"
SCALAR_NAMES: Final = 1000
LIST_CHUNK: Final = 1000
LATENCY_RATE: Final = 5000
POLL_S: Final = 0.002


def run(stack: BenchStack, scale: Scale) -> list[Measurement]:
    """Scalar events/s, list values/s, latency p50/p99 at 5k events/s, worker peak RSS."""
    rounds = max(1, scale.count(400))
    lists, length = (
        scale.count(40),
        min(MAX_LIST_VALUES, scale.count(MAX_LIST_VALUES, minimum=LIST_CHUNK)),
    )
    latency_events = scale.count(30_000, minimum=500)
    scalars = repeat(scale.repeats, lambda: {"rate": ingest_scalars(stack, rounds)})
    values = repeat(scale.repeats, lambda: {"rate": ingest_lists(stack, lists, length)})
    latency = repeat(scale.repeats, lambda: paced_latency(stack, latency_events))
    return [
        measure(
            FAMILY,
            "scalar events",
            scalars["rate"],
            "events/s",
            target=100_000,
            note=f"{rounds} x {SCALAR_NAMES} names, one execution",
        ),
        measure(
            FAMILY,
            "list values",
            values["rate"],
            "values/s",
            target=1_000_000,
            note=f"{lists} lists x {length} values in calls of {LIST_CHUNK}, one execution",
        ),
        measure(
            FAMILY,
            "record-to-queryable p50",
            latency["p50_ms"],
            "ms",
            higher_is_better=False,
            note=f"{latency_events} events at {LATENCY_RATE}/s",
        ),
        measure(
            FAMILY,
            "record-to-queryable p99",
            latency["p99_ms"],
            "ms",
            target=500,
            higher_is_better=False,
            note=f"Redis polled every {POLL_S * 1000:.0f} ms",
        ),
        measure(FAMILY, "paced rate achieved", latency["achieved_rate"], "events/s"),
        measure(
            FAMILY,
            "worker peak RSS",
            [peak_rss_mib(stack.pid("worker"))],
            "MiB",
            higher_is_better=False,
        ),
    ]


def ingest_scalars(stack: BenchStack, rounds: int) -> float:
    """Scalar events/s: `rounds` x 1,000 names in one execution, until all queryable."""
    one = dataset.execution(
        dataset.unique("e2e-s"), "bench-e2e", scalars=SCALAR_NAMES, rounds=rounds
    )
    return rounds * SCALAR_NAMES / dataset.ingest(stack, [one])


def ingest_lists(stack: BenchStack, lists: int, length: int) -> float:
    """List values/s: `lists` lists of `length` values in one execution."""
    one = dataset.execution(
        dataset.unique("e2e-l"), "bench-e2e", lists=lists, list_len=length, chunk=LIST_CHUNK
    )
    return lists * length / dataset.ingest(stack, [one])


def paced_latency(stack: BenchStack, count: int) -> dict[str, float]:
    """p50/p99 ms from each record call (its value is its time) to visible in Redis."""
    eid = dataset.unique("e2e-lat")
    spec = {
        "mode": "paced",
        "execution_id": eid,
        "name": "lat",
        "rate": LATENCY_RATE,
        "count": count,
    }
    step = start_child(STEP, spec, timeout=120, env=stack.step_env())
    client = stack.sync_redis()
    key = dataset.redis_keys().list_values(eid, "lat")
    latencies: list[float] = []
    seen = 0
    deadline = time.monotonic() + count / LATENCY_RATE + 60
    try:
        while seen < count * 8 and time.monotonic() < deadline:
            size = client.strlen(key)
            if size > seen:
                now = time.time()
                fresh = cast(bytes, client.getrange(key, seen, size - 1))
                latencies.extend(now - t for (t,) in struct.iter_unpack("<d", fresh))
                seen = size
            time.sleep(POLL_S)
    finally:
        client.close()
    got = finish_child(step, timeout=60)
    if seen < count * 8:
        raise RuntimeError(f"{eid}: only {seen // 8} of {count} paced values became queryable")
    return {
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
        "achieved_rate": float(got["achieved_rate"]),
    }
