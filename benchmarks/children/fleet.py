"""A step that records a range of a `Fleet`'s executions, one `step_context` each.

Run as `python -m benchmarks.children.fleet <spec-json>` with the spec
`{"fleet": Fleet.as_spec(), "first": i, "count": n}`. It warms up (one metric
to `bench-warmup`, flushed), records its executions as
a platform's step processes would (each execution in its own context: its
scalars, then its list if it has one), flushes, and reports what the SDK lost.
"""

from __future__ import annotations

import time
from typing import Any

from benchmarks.children.step import _context, _sdk, _warm_up
from benchmarks.harness.fleet import Fleet
from benchmarks.harness.runner import child_main


def record(sdk: Any, fleet: Fleet, first: int, count: int) -> None:
    """Record executions first..first+count-1 of `fleet`."""
    names = [f"{fleet.names}{k}" for k in range(fleet.scalars)]
    curve = [float(v) for v in range(fleet.list_len)]
    scalar, listed = sdk.record_metric_value, sdk.record_list_metric_values
    for i in range(first, first + count):
        base = i * fleet.scalars
        with _context(fleet.execution_id(i), fleet.pipeline(i), fleet.deployment(i)):
            for k, name in enumerate(names):
                scalar(name, float(base + k))
            if fleet.has_list(i):
                listed("l0", curve)


def _main(spec: dict[str, Any]) -> dict[str, Any]:
    sdk = _sdk()
    _warm_up(sdk)
    start = time.time()
    record(sdk, Fleet(**spec["fleet"]), spec["first"], spec["count"])
    recorded = time.time()
    flushed = bool(sdk.flush(timeout=600))
    stats = sdk.stats()
    return {
        "start_at": start,
        "recorded_at": recorded,
        "flushed_at": time.time(),
        "flushed": flushed,
        "lost": stats.dropped + stats.failed + stats.over_limit,
    }


if __name__ == "__main__":
    child_main(_main)
