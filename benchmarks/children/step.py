"""The benchmarked step: a child process that records metrics with the step SDK.

Run as `python -m benchmarks.children.step <spec-json>`; the spec's `mode` picks what it
records:

- `emit`: time `record_metric_value` and `record_list_metric_values` calls.
- `workload`: record a described dataset (executions x scalars x lists), flush.
- `paced`: append `time.time()` to one list metric at a fixed rate, one value
  per call, so the parent can measure record-to-queryable latency per event.

Before any timed part it records one warm-up metric and flushes, so the
producer is connected; then it prints the ready line.
"""

from __future__ import annotations

import sys
import time
from typing import Any, Final

from benchmarks.harness.runner import child_main, percentile, signal_ready
from stepmetrics.producers.events import MAX_LIST_VALUES

WARMUP_EXECUTION: Final = "bench-warmup"


def _sdk() -> Any:
    from stepmetrics.sdk import CraftAiSdk

    return CraftAiSdk()


def _context(execution_id: str, pipeline: str, deployment: str | None = None) -> Any:
    from stepmetrics.producers import step_context

    return step_context(
        execution_id=execution_id, pipeline_name=pipeline, deployment_name=deployment
    )


def _warm_up(sdk: Any) -> None:
    with _context(WARMUP_EXECUTION, "bench-warmup"):
        sdk.record_metric_value("warmup", 1.0)
    if not sdk.flush(timeout=60):
        sys.exit("warm-up metric not delivered within 60 s")


def emit(sdk: Any, spec: dict[str, Any]) -> dict[str, Any]:
    """Calls/s and per-call µs of `record_metric_value`; values/s of list calls.

    Each part starts with an empty buffer (flushed before, untimed) and stays
    under the buffer's capacity, so it measures what a call costs the step;
    the `*_with_flush_per_s` rates include delivery to the broker.
    """
    result: dict[str, Any] = {}
    with _context(spec["execution_id"], "bench-sdk"):
        calls = spec["calls"]
        record = sdk.record_metric_value
        names = [f"m{i}" for i in range(1000)]
        start = time.perf_counter()
        for i in range(calls):
            record(names[i % 1000], i * 0.5)
        recorded = time.perf_counter()
        _flush(sdk)
        result["calls_per_s"] = calls / (recorded - start)
        result["calls_with_flush_per_s"] = calls / (time.perf_counter() - start)
        result.update(_time_calls(record, spec["timed_calls"]))
        _flush(sdk)
        for size, total in spec["list_values"].items():
            rate, with_flush = _emit_lists(sdk, int(size), total)
            result[f"list{size}_values_per_s"] = rate
            result[f"list{size}_with_flush_per_s"] = with_flush
    stats = sdk.stats()
    result["dropped"] = stats.dropped + stats.failed + stats.over_limit
    return result


def _flush(sdk: Any) -> None:
    if not sdk.flush(timeout=120):
        sys.exit(f"the step could not deliver what it recorded within 120 s: {sdk.stats()}")


def _time_calls(record: Any, calls: int) -> dict[str, float]:
    clock = time.perf_counter_ns
    names = [f"t{i}" for i in range(1000)]
    costs = []
    for i in range(calls):
        name = names[i % 1000]
        before = clock()
        record(name, i * 0.5)
        costs.append(clock() - before)
    return {"median_us": percentile(costs, 50) / 1000, "p99_us": percentile(costs, 99) / 1000}


def _emit_lists(sdk: Any, size: int, total: int) -> tuple[float, float]:
    values = [float(v) for v in range(size)]
    calls = max(1, total // size)
    # Stay under the cap (more would be dropped by design): a new list every 50,000 values.
    per_name = max(1, MAX_LIST_VALUES // size)
    record = sdk.record_list_metric_values
    start = time.perf_counter()
    for i in range(calls):
        record(f"l{size}-{i // per_name}", values)
    recorded = time.perf_counter()
    _flush(sdk)
    return calls * size / (recorded - start), calls * size / (time.perf_counter() - start)


def workload(sdk: Any, spec: dict[str, Any]) -> dict[str, Any]:
    """Record every execution of `spec['executions']`, then flush."""
    executions = spec["executions"]
    chunks = [_chunks(e.get("list_len", 0), e.get("chunk", 1000)) for e in executions]
    start = time.time()  # after building the values: only recording is measured
    for execution, values in zip(executions, chunks, strict=True):
        with _context(execution["id"], execution["pipeline"], execution.get("deployment")):
            _record_execution(sdk, execution, values)
    recorded = time.time()
    flushed = bool(sdk.flush(timeout=300))
    return {
        "start_at": start,
        "recorded_at": recorded,
        "flushed_at": time.time(),
        "flushed": flushed,
    }


def _chunks(length: int, chunk: int) -> list[list[float]]:
    return [[float(v) for v in range(i, min(length, i + chunk))] for i in range(0, length, chunk)]


def _record_execution(sdk: Any, execution: dict[str, Any], chunks: list[list[float]]) -> None:
    scalars, rounds = execution.get("scalars", 0), execution.get("rounds", 1)
    names = [f"{execution.get('names', 'm')}{m}" for m in range(scalars)]
    record = sdk.record_metric_value
    for r in range(rounds):
        for m, name in enumerate(names):
            record(name, float(r * scalars + m))
    record_list = sdk.record_list_metric_values
    for n in range(execution.get("lists", 0)):
        name = f"l{n}"
        for values in chunks:
            record_list(name, values)


def paced(sdk: Any, spec: dict[str, Any]) -> dict[str, Any]:
    """Append `time.time()` to one list, one value per call, at `rate` calls/s."""
    rate, count = spec["rate"], spec["count"]
    record = sdk.record_list_metric_values
    with _context(spec["execution_id"], "bench-latency"):
        start = time.perf_counter()
        for i in range(count):
            due = start + i / rate
            ahead = due - time.perf_counter()
            if ahead > 0.001:
                time.sleep(ahead)
            while time.perf_counter() < due:
                pass
            record(spec["name"], [time.time()])
        elapsed = time.perf_counter() - start
        flushed = bool(sdk.flush(timeout=60))
    return {"achieved_rate": count / elapsed, "flushed": flushed}


MODES: Final = {"emit": emit, "workload": workload, "paced": paced}


def _main(spec: dict[str, Any]) -> dict[str, Any]:
    sdk = _sdk()
    _warm_up(sdk)
    signal_ready()
    return MODES[spec["mode"]](sdk, spec)


if __name__ == "__main__":
    child_main(_main)
