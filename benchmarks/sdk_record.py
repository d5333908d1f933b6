"""Cost of the step SDK's record calls, against a real (embedded) broker.

Run: `.venv/bin/python benchmarks/sdk_record.py`. Prints medians over a few
repeats: the single-call cost of `record_metric_value`, its calls/s from one
thread, and values/s of `record_list_metric_values` with lists of 1,000
(Python lists and numpy arrays). Wall-clock rates include the background
sender sharing the GIL and the machine; "cpu" rates divide by the recording
thread's own CPU time, which is what a loaded machine cannot distort.
"""

from __future__ import annotations

import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from stepmetrics.producers import ProducerSettings, Recorder, step_context
from stepmetrics.sdk import CraftAiSdk
from stepmetrics.stack.services import free_port, start_broker

REPEATS = 5


def thread_cpu() -> float:
    return time.clock_gettime(time.CLOCK_THREAD_CPUTIME_ID)


def rates(run: Callable[[], int], flush: Callable[[], object]) -> tuple[float, float]:
    """Median (wall, cpu) units/s of `run` over REPEATS, flushing in between."""
    wall, cpu = [], []
    for _ in range(REPEATS):
        w, c = time.perf_counter(), thread_cpu()
        units = run()
        wall.append(units / (time.perf_counter() - w))
        cpu.append(units / (thread_cpu() - c))
        flush()
    return statistics.median(wall), statistics.median(cpu)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        broker = start_broker(Path(tmp), free_port())
        try:
            settings = ProducerSettings(
                bootstrap=broker.address, topic="bench", buffer_values=5_000_000, block_timeout=30
            )
            recorder = Recorder(settings)
            measure(CraftAiSdk(recorder=recorder))
            recorder.close(30)
        finally:
            broker.stop()


def measure(sdk: CraftAiSdk) -> None:
    counter = iter(range(10**9))
    values = [random.random() for _ in range(1000)]
    array = np.random.random(1000)

    def scalars() -> int:
        for i in range(100_000):
            sdk.record_metric_value("loss", i * 0.001)
        return 100_000

    def lists(batch: object) -> Callable[[], int]:
        def run() -> int:
            run_id = next(counter)  # fresh names: stay under the 50,000 limit
            for i in range(200):
                sdk.record_list_metric_values(f"l{run_id}-{i % 20}", batch)
            return 200 * 1000

        return run

    with step_context("bench-exec", "bench"):
        sdk.record_metric_value("warm-up", 1.0)
        sdk.flush(30)
        single = []
        for _ in range(50_000):
            start = time.perf_counter_ns()
            sdk.record_metric_value("acc", 0.25)
            single.append(time.perf_counter_ns() - start)
        sdk.flush(60)
        print(f"record_metric_value: median {statistics.median(single) / 1000:.2f} us/call")

        def flush() -> bool:
            return sdk.flush(120)

        wall, cpu = rates(scalars, flush)
        print(f"record_metric_value: {wall:,.0f} calls/s wall, {cpu:,.0f} calls/s cpu")
        wall, cpu = rates(lists(values), flush)
        print(
            f"record_list_metric_values (list of 1000): {wall:,.0f} values/s wall, {cpu:,.0f} cpu"
        )
        wall, cpu = rates(lists(array), flush)
        print(f"record_list_metric_values (numpy 1000): {wall:,.0f} values/s wall, {cpu:,.0f} cpu")
        print(sdk.stats())


if __name__ == "__main__":
    main()
