"""The documented query facade, `CraftAiSdk.get_metrics`, timed in a user-like child process.

The facade builds its query client from `STEPMETRICS_API_URL` /
`STEPMETRICS_API_TOKEN` on each call, as a user script would call it; a child
process keeps whatever it leaves open out of the parent.
"""

from __future__ import annotations

import time
from typing import Any

from benchmarks.harness.runner import child_main, percentile
from stepmetrics.sdk import CraftAiSdk


def _time_facade(spec: dict[str, Any]) -> dict[str, Any]:
    got = CraftAiSdk.get_metrics(execution_id=spec["execution_id"])
    if len(got) != spec["expected"]:
        raise RuntimeError(f"facade returned {len(got)} metrics, expected {spec['expected']}")
    costs: list[float] = []
    stop_at = time.perf_counter() + spec["seconds"]
    while len(costs) < spec["runs"] and (len(costs) < 5 or time.perf_counter() < stop_at):
        start = time.perf_counter()
        CraftAiSdk.get_metrics(execution_id=spec["execution_id"])
        costs.append((time.perf_counter() - start) * 1000)
    return {"median_ms": percentile(costs, 50), "p99_ms": percentile(costs, 99)}


if __name__ == "__main__":
    child_main(_time_facade)
