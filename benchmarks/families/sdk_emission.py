"""SDK emission: what `record_*` costs the step, measured in a step child process.

The stack runs, so the SDK's background sender really ships what is recorded
while the step keeps calling: the numbers include that competition for the GIL
and the two cores.
"""

from __future__ import annotations

import tempfile
import time
from typing import Any, Final

from benchmarks.children import STEP
from benchmarks.harness.runner import Measurement, Scale, measure, repeat, run_child
from stepmetrics.producers.settings import DURABILITY, SPOOL_DIR
from tests.support.services import BenchStack

FAMILY: Final = "sdk"
# (values per call, values per run): under the SDK's 500,000-value buffer.
LISTS: Final = ((1, 100_000), (100, 400_000), (1000, 400_000))
LIST_TARGET: Final = {1000: 2_000_000.0}


def run(stack: BenchStack, scale: Scale) -> list[Measurement]:
    """record_metric_value calls/s, median/p99 µs; list values/s; step peak RSS."""
    spec: dict[str, Any] = {
        "mode": "emit",
        "calls": scale.count(200_000, minimum=100),
        "timed_calls": scale.count(50_000, minimum=100),
        "list_values": {str(size): scale.count(total, minimum=size) for size, total in LISTS},
    }

    def once() -> dict[str, float]:
        spec["execution_id"] = f"bench-sdk-{time.time_ns()}"
        got = run_child(STEP, spec, timeout=300, env=stack.step_env())
        return {k: float(v) for k, v in got.items()}

    runs = repeat(scale.repeats, once)
    if any(runs["dropped"]):
        raise RuntimeError(f"the step SDK dropped values: {runs['dropped']}")
    note = f"{spec['calls']} calls over 1,000 names, one step process"
    found = [
        measure(
            FAMILY, "record_metric_value", runs["calls_per_s"], "calls/s", target=200_000, note=note
        ),
        measure(
            FAMILY,
            "record_metric_value median",
            runs["median_us"],
            "µs",
            target=5.0,
            higher_is_better=False,
            note=f"{spec['timed_calls']} calls timed one by one",
        ),
        measure(FAMILY, "record_metric_value p99", runs["p99_us"], "µs", higher_is_better=False),
        measure(
            FAMILY,
            "record_metric_value incl. flush",
            runs["calls_with_flush_per_s"],
            "calls/s",
            note="until the broker acknowledged all",
        ),
    ]
    for size, _ in LISTS:
        count = spec["list_values"][str(size)]
        found.append(
            measure(
                FAMILY,
                f"record_list_metric_values, lists of {size}",
                runs[f"list{size}_values_per_s"],
                "values/s",
                target=LIST_TARGET.get(size),
                note=f"{count} values",
            )
        )
        found.append(
            measure(
                FAMILY,
                f"lists of {size} incl. flush",
                runs[f"list{size}_with_flush_per_s"],
                "values/s",
                note="until the broker acknowledged all",
            )
        )
    found.extend(_disk_mode(stack, scale, spec))
    found.append(
        measure(
            FAMILY,
            "step peak RSS",
            runs["peak_rss_mib"],
            "MiB",
            higher_is_better=False,
            note="the whole step process (VmHWM)",
        )
    )
    return found


def _disk_mode(stack: BenchStack, scale: Scale, spec: dict[str, Any]) -> list[Measurement]:
    """The same scalar calls with `STEPMETRICS_DURABILITY=disk` (spooled before sent)."""
    disk_spec = {**spec, "list_values": {}}

    def once() -> dict[str, float]:
        disk_spec["execution_id"] = f"bench-sdk-disk-{time.time_ns()}"
        with tempfile.TemporaryDirectory(prefix="stepmetrics-spool-") as spool:
            env = {**stack.step_env(), DURABILITY.name: "disk", SPOOL_DIR.name: spool}
            got = run_child(STEP, disk_spec, timeout=300, env=env)
        return {k: float(v) for k, v in got.items()}

    runs = repeat(scale.repeats, once)
    if any(runs["dropped"]):
        raise RuntimeError(f"the step SDK dropped values in disk mode: {runs['dropped']}")
    note = f"{DURABILITY.name}=disk: each round fsynced to the spool before it is sent"
    return [
        measure(
            FAMILY, "record_metric_value, disk mode", runs["calls_per_s"], "calls/s", note=note
        ),
        measure(
            FAMILY,
            "record_metric_value median, disk mode",
            runs["median_us"],
            "µs",
            higher_is_better=False,
        ),
        measure(
            FAMILY,
            "record_metric_value incl. flush, disk mode",
            runs["calls_with_flush_per_s"],
            "calls/s",
        ),
    ]
