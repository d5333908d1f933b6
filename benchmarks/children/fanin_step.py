"""One step process of the fan-in benchmark: many concurrent executions, paced ticks.

Run as `python -m benchmarks.children.fanin_step <spec-json>`. The process
holds `executions` (ids) and gives each of them `rate` ticks per second for
`seconds`, round robin, through `step_context`: a tick of execution e records
one scalar event (`loss`, the tick's number in e) and appends `time.time()` to
e's list `t`, so the parent can read each value's record time in Redis.

It records one warm-up value and flushes (the producer is connected), prints
the ready line, then waits for `go_file` to exist, so that every step process
of a run starts together. Ticks that fall due while the process is busy are
recorded in a burst as soon as it can (no busy waiting: 4 of these share 2
cores with the stack); `achieved_rate` says what it offered.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any, Final

from benchmarks.harness.runner import child_main, signal_ready

SCALAR: Final = "loss"
LIST: Final = "t"
GO_POLL_S: Final = 0.001
GO_TIMEOUT_S: Final = 300.0


def _wait_for_go(go_file: Path) -> None:
    deadline = time.monotonic() + GO_TIMEOUT_S
    while not go_file.exists():
        if time.monotonic() > deadline:
            sys.exit(f"{go_file} did not appear within {GO_TIMEOUT_S:.0f} s")
        time.sleep(GO_POLL_S)


def _cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


def _ticks(sdk: Any, spec: dict[str, Any]) -> tuple[int, float, float]:
    """Record every tick; return (ticks per execution, start, end) in time.time()."""
    from stepmetrics.producers import step_context

    executions: list[str] = spec["executions"]
    pipeline, n = spec["pipeline"], len(executions)
    per_execution = max(1, round(spec["rate"] * spec["seconds"]))
    total, interval = per_execution * n, 1.0 / (spec["rate"] * n)
    record, record_list, clock = sdk.record_metric_value, sdk.record_list_metric_values, time.time
    start = clock()
    tick = 0
    while tick < total:
        now = clock()
        due = min(total, int((now - start) / interval) + 1)
        while tick < due:
            with step_context(executions[tick % n], pipeline):
                record(SCALAR, float(tick // n))
                record_list(LIST, [clock()])
            tick += 1
        ahead = start + tick * interval - clock()
        if ahead > 0:
            time.sleep(ahead)
    return per_execution, start, clock()


def _run(spec: dict[str, Any]) -> dict[str, Any]:
    from stepmetrics.producers import step_context
    from stepmetrics.sdk import CraftAiSdk

    sdk = CraftAiSdk()
    with step_context(spec["warmup_execution"], spec["pipeline"]):
        sdk.record_metric_value("warmup", 1.0)
    if not sdk.flush(timeout=60):
        sys.exit("warm-up metric not delivered within 60 s")
    signal_ready()
    _wait_for_go(Path(spec["go_file"]))
    cpu_before = _cpu_seconds()
    per_execution, start, end = _ticks(sdk, spec)
    flushed = bool(sdk.flush(timeout=120))
    stats = sdk.stats()
    return {
        "ticks_per_execution": per_execution,
        "start_at": start,
        "end_at": end,
        "flushed_at": time.time(),
        "flushed": flushed,
        "achieved_rate": per_execution * len(spec["executions"]) / (end - start),
        "cpu_s": _cpu_seconds() - cpu_before,
        "dropped": stats.dropped + stats.failed + stats.over_limit,
    }


if __name__ == "__main__":
    child_main(_run)
