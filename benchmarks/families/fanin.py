"""Fan-in: 1,000 concurrent executions in 4 step processes, one worker, then two.

Each execution ticks `rate` times a second (a tick records one scalar event
and appends its `time.time()` to one list; `fanin_window`). Measured:

- at 20 ticks/s per execution (the platform's load: 1,000 x 20 scalar
  events/s): record-to-queryable p50/p99 (target p99 <= 500 ms) and the
  worker's CPU seconds per 1,000 envelopes applied;
- the highest rate one worker sustains: the per-execution rate doubles from
  5 ticks/s until the lag grows, i.e. until the backlog when the steps stop
  takes longer than `DRAIN_BOUND_S` (or 10% of the window) to apply, or the
  steps themselves cannot offer the rate asked (then the figure is a lower
  bound, and the row's note says so);
- the same ramp with a second `stepmetrics worker` in the consumer group
  (`benchmarks.harness.workers`) and the ratio of the two sustained rates
  (target >= 1.6x where cores allow: the rows carry `os.cpu_count()` and the
  CPU each process used, in cores, at the highest sustained rate).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Final

from benchmarks.families.fanin_window import FanIn, Window
from benchmarks.harness.runner import Measurement, Scale, measure
from benchmarks.harness.workers import extra_worker
from tests.support.services import BenchStack

FAMILY: Final = "fanin"
EXECUTIONS: Final = 1000
PROCESSES: Final = 4
PLATFORM_RATE: Final = 20.0  # ticks/s per execution
RAMP: Final = (5.0, 10.0, 20.0, 40.0, 80.0, 160.0, 320.0)
DRAIN_BOUND_S: Final = 1.0
FULL_SHAPE_FACTOR: Final = 0.1  # below: the smoke test's shape (2 processes, one rate)
STEP_SHORTFALL: Final = 0.9  # offered below this share of the asked rate: steps are the limit


def run(stack: BenchStack, scale: Scale) -> list[Measurement]:
    """Latency and worker CPU at the platform's load; sustained rates, 1 and 2 workers."""
    executions = scale.count(EXECUTIONS, minimum=8)
    processes = PROCESSES if scale.factor >= FULL_SHAPE_FACTOR else 2
    one = FanIn(stack, executions, processes, {"worker": stack.pid("worker")})
    shape = f"{executions} executions in {processes} step processes"
    platform = [one.window(PLATFORM_RATE, _platform_seconds(scale)) for _ in range(_repeats(scale))]
    found = _platform_rows(platform, shape)
    single = ramp(one, scale.seconds, _ramp(scale))
    with extra_worker(stack, "worker2") as second:
        two = FanIn(stack, executions, processes, {**one.workers, "worker2": second.proc.pid})
        two.window(PLATFORM_RATE, scale.seconds)  # after the rebalance, untimed
        double = ramp(two, scale.seconds, _ramp(scale))
    one.window(PLATFORM_RATE, scale.seconds)  # the stack's worker owns every partition again
    found += _sustained_rows("1 worker", single, shape)
    found += _sustained_rows("2 workers", double, shape)
    top_one, top_two = top(single).applied, top(double).applied
    found.append(
        Measurement(
            FAMILY,
            "sustained rate, 2 workers / 1 worker",
            top_two / top_one,
            "x",
            target=1.6,
            samples=[top_two / top_one],
            note=f"os.cpu_count()={os.cpu_count()}, load average {os.getloadavg()[0]:.2f}",
        )
    )
    return found


def _platform_seconds(scale: Scale) -> float:
    return scale.seconds * (3 if scale.factor >= FULL_SHAPE_FACTOR else 1)


def _repeats(scale: Scale) -> int:
    return max(1, min(3, scale.repeats))


def _ramp(scale: Scale) -> Sequence[float]:
    return RAMP if scale.factor >= FULL_SHAPE_FACTOR else RAMP[2:3]


def sustained(window: Window) -> bool:
    """The worker kept up: the backlog left when the steps stopped drained in time."""
    return window.drain_s <= max(DRAIN_BOUND_S, 0.1 * window.seconds)


def step_limited(window: Window) -> bool:
    """The steps could not offer the rate asked (the machine's cores, not the worker)."""
    return window.offered < STEP_SHORTFALL * window.asked


def ramp(fan: FanIn, seconds: float, rates: Sequence[float]) -> list[Window]:
    """Windows at increasing rates; the last one is the first not sustained (if any)."""
    windows: list[Window] = []
    for rate in rates:
        window = fan.window(rate, seconds)
        windows.append(window)
        if not sustained(window) or step_limited(window):
            break
    return windows


def top(windows: Sequence[Window]) -> Window:
    """The sustained window that applied the most (the first window if none was)."""
    kept = [w for w in windows if sustained(w)]
    return max(kept, key=lambda w: w.applied) if kept else windows[0]


def _platform_rows(windows: Sequence[Window], shape: str) -> list[Measurement]:
    note = f"{shape}, {PLATFORM_RATE:.0f} ticks/s each (1 scalar + 1 list value per tick)"
    per_1000 = [1000 * w.cpu_s["worker"] / max(1, w.envelopes) for w in windows]
    return [
        measure(
            FAMILY,
            "record-to-queryable p50",
            [w.p50_ms for w in windows],
            "ms",
            higher_is_better=False,
            note=note,
        ),
        measure(
            FAMILY,
            "record-to-queryable p99",
            [w.p99_ms for w in windows],
            "ms",
            target=500.0,
            higher_is_better=False,
            note=f"{len(windows)} windows of {windows[0].seconds:.0f} s",
        ),
        measure(FAMILY, "offered at 20 ticks/s", [w.offered for w in windows], "events/s"),
        measure(
            FAMILY,
            "envelopes applied at 20 ticks/s",
            [w.envelopes / w.wall_s for w in windows],
            "envelopes/s",
        ),
        measure(
            FAMILY,
            "worker CPU per 1,000 envelopes",
            per_1000,
            "CPU s",
            higher_is_better=False,
            note="utime+stime of the worker pid from /proc over the window",
        ),
        measure(
            FAMILY,
            "events per envelope at 20 ticks/s",
            [w.events / max(1, w.envelopes) for w in windows],
            "events",
        ),
    ]


def _sustained_rows(label: str, windows: Sequence[Window], shape: str) -> list[Measurement]:
    best = top(windows)
    limited = " (the steps could not offer more: a lower bound)" if step_limited(best) else ""
    tried = ", ".join(
        f"{w.rate:.0f}/s: offered {w.offered:,.0f}, drain {w.drain_s:.2f} s" for w in windows
    )
    found = [
        measure(
            FAMILY,
            f"sustained, {label}",
            [best.applied],
            "events/s",
            note=f"{shape}, {best.rate:.0f} ticks/s each{limited}; ramp {tried}",
        ),
        measure(
            FAMILY, f"sustained, {label}, envelopes", [best.envelopes / best.wall_s], "envelopes/s"
        ),
    ]
    found += [
        measure(
            FAMILY,
            f"sustained, {label}: {name} CPU",
            [seconds / best.wall_s],
            "cores",
            higher_is_better=False,
        )
        for name, seconds in sorted(best.cpu_s.items())
    ]
    return found
