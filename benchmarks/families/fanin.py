"""Fan-in: 1,000 concurrent executions in 4 step processes, one worker, then two.

Each execution ticks `rate` times a second (a tick records one scalar event
and appends its `time.time()` to one list; `fanin_window`). Measured:

- at 20 ticks/s per execution (the platform's load: 1,000 x 20 scalar
  events/s): record-to-queryable p50/p99 (target p99 <= 500 ms) and the
  worker's CPU seconds per 1,000 envelopes applied;
- the highest rate one worker sustains: from 20 ticks/s the per-execution
  rate doubles while the worker keeps up, or halves until it does; it keeps
  up when the backlog left as the steps stop takes at most `DRAIN_BOUND_S`
  (or 10% of the window) to apply. If the steps cannot offer the rate asked,
  the figure is a lower bound (the row's note says so);
- the same with a second `stepmetrics worker` in the consumer group
  (`benchmarks.harness.workers`): events/s applied at the platform's load
  by 2 workers / by 1 (target >= 1.6x where cores allow; when one worker
  cannot keep up, what it applies is its capacity), with `os.cpu_count()`,
  the load average and the CPU each process used (cores) at the highest
  sustained rate.
"""

from __future__ import annotations

import os
import statistics
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
# Ticks/s per execution the ramp may ask for; it starts at PLATFORM_RATE.
RATES: Final = (1.25, 2.5, 5.0, 10.0, 20.0, 40.0, 80.0, 160.0, 320.0)
DRAIN_BOUND_S: Final = 1.0
FULL_SHAPE_FACTOR: Final = 0.1  # below: the smoke test's shape (2 processes, one rate)
STEP_SHORTFALL: Final = 0.9  # offered below this share of the asked rate: steps are the limit


def run(stack: BenchStack, scale: Scale) -> list[Measurement]:
    """Latency and worker CPU at the platform's load; sustained rates, 1 and 2 workers."""
    executions = scale.count(EXECUTIONS, minimum=8)
    processes = PROCESSES if scale.factor >= FULL_SHAPE_FACTOR else 2
    one = FanIn(stack, executions, processes, {"worker": stack.pid("worker")})
    shape = f"{executions} executions in {processes} step processes"
    platform = [one.window(PLATFORM_RATE, scale.seconds) for _ in range(_repeats(scale))]
    rates = _rates(scale)
    single = ramp(one, scale.seconds, rates, rates.index(PLATFORM_RATE))
    settle = scale.seconds / 5
    with extra_worker(stack, "worker2") as second:
        two = FanIn(stack, executions, processes, {**one.workers, "worker2": second.proc.pid})
        two.window(rates[0], settle)  # after the rebalance, untimed
        two_platform = two.window(PLATFORM_RATE, scale.seconds)
        start = rates.index(top(single).rate)
        reuse = two_platform if rates[start] == PLATFORM_RATE else None
        double = ramp(two, scale.seconds, rates, start, first=reuse)
    one.window(rates[0], settle)  # checks the stack's worker owns every partition again
    return [
        *_platform_rows(platform, shape),
        *_sustained_rows("1 worker", single, shape),
        *_sustained_rows("2 workers", double, shape),
        *_scaling_rows(platform, two_platform, single, double),
    ]


def _scaling_rows(
    platform: Sequence[Window], two: Window, single: Sequence[Window], double: Sequence[Window]
) -> list[Measurement]:
    """2 workers / 1: applied events/s at the platform's load, and sustained rates."""
    one = statistics.median(w.applied for w in platform)
    saturated = "" if not sustained(two) else " (2 workers kept up: a lower bound)"
    machine = f"os.cpu_count()={os.cpu_count()}, load average {os.getloadavg()[0]:.2f}"
    kept = top(double).applied / top(single).applied
    return [
        measure(FAMILY, "applied at 20 ticks/s, 2 workers", [two.applied], "events/s"),
        Measurement(
            FAMILY,
            "applied at 20 ticks/s, 2 workers / 1 worker",
            two.applied / one,
            "x",
            target=1.6,
            samples=[two.applied / one],
            note=f"same offered load{saturated}; {machine}",
        ),
        Measurement(
            FAMILY,
            "sustained, 2 workers / 1 worker",
            kept,
            "x",
            samples=[kept],
            note=f"rates on a ladder of x2 steps: coarse; {machine}",
        ),
    ]


def _repeats(scale: Scale) -> int:
    return max(1, min(3, scale.repeats))


def _rates(scale: Scale) -> Sequence[float]:
    return RATES if scale.factor >= FULL_SHAPE_FACTOR else (PLATFORM_RATE,)


def sustained(window: Window) -> bool:
    """The worker kept up: the backlog left when the steps stopped drained in time."""
    return window.drain_s <= max(DRAIN_BOUND_S, 0.1 * window.seconds)


def step_limited(window: Window) -> bool:
    """The steps could not offer the rate asked (the machine's cores, not the worker)."""
    return window.offered < STEP_SHORTFALL * window.asked


def ramp(
    fan: FanIn,
    seconds: float,
    rates: Sequence[float],
    start: int,
    first: Window | None = None,
) -> list[Window]:
    """Windows from `rates[start]` (`first` if already measured there): up while
    sustained, else down until one is.

    Stops going up at the first window not sustained or that the steps could
    not offer; going down, at the first sustained one (or the lowest rate).
    """
    windows = [first if first is not None else fan.window(rates[start], seconds)]
    up = _kept_up(windows[0])
    step = 1 if up else -1
    index = start + step
    while 0 <= index < len(rates):
        windows.append(fan.window(rates[index], seconds))
        if _kept_up(windows[-1]) != up:
            break
        if up and step_limited(windows[-1]):
            break
        index += step
    return windows


def _kept_up(window: Window) -> bool:
    return sustained(window) and not step_limited(window)


def top(windows: Sequence[Window]) -> Window:
    """The sustained window that applied the most (the lowest rate's if none was)."""
    kept = [w for w in windows if sustained(w)]
    if kept:
        return max(kept, key=lambda w: w.applied)
    return min(windows, key=lambda w: w.rate)


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
            FAMILY, "applied at 20 ticks/s, 1 worker", [w.applied for w in windows], "events/s"
        ),
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
    if not sustained(best):
        limited = " NOT sustained at any rate tried: what the worker applied, its capacity here"
    tried = ", ".join(
        f"{w.rate:g}/s: offered {w.offered:,.0f}, drain {w.drain_s:.2f} s" for w in windows
    )
    found = [
        measure(
            FAMILY,
            f"sustained, {label}",
            [best.applied],
            "events/s",
            note=f"{shape}, {best.rate:g} ticks/s each{limited}; ramp {tried}",
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
