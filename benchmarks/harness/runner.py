"""Shared measurement types and helpers: percentiles, repeats, peak RSS, time bounds."""

from __future__ import annotations

import dataclasses
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Final

PAGE_KIB: Final = 1024


@dataclass(frozen=True, slots=True)
class Scale:
    """How big each benchmark runs: `full` for `make bench`, `tiny` for the smoke test.

    Attributes:
        factor: multiplies every event count (1.0 = the published sizes).
        repeats: how many times each timed run is repeated; medians are reported.
        seconds: the wall-clock bound of one timed run.
    """

    factor: float = 1.0
    repeats: int = 5
    seconds: float = 10.0

    def count(self, full: int, minimum: int = 1) -> int:
        """Scale an event count, never below `minimum`."""
        return max(minimum, int(full * self.factor))


TINY: Final = Scale(factor=0.002, repeats=1, seconds=1.0)


@dataclass(slots=True)
class Measurement:
    """One reported number, possibly the median of several repeats.

    Attributes:
        family: the benchmark family ("sdk", "e2e", "queries", "peers", "growth").
        name: what was measured, e.g. "record_metric_value calls/s".
        value: the reported (median) value.
        unit: the unit of `value`.
        target: the target from the issues, if any.
        higher_is_better: whether `value` meets `target` by being above it.
        samples: every repeat's value (the spread shows the machine noise).
        note: free text (workload, what the number includes).
    """

    family: str
    name: str
    value: float
    unit: str
    target: float | None = None
    higher_is_better: bool = True
    samples: list[float] = field(default_factory=list)
    note: str = ""

    @property
    def met(self) -> bool | None:
        """Whether the target is met (None when there is no target)."""
        if self.target is None:
            return None
        return self.value >= self.target if self.higher_is_better else self.value <= self.target

    def as_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "met": self.met}


def measure(
    family: str,
    name: str,
    samples: Sequence[float],
    unit: str,
    *,
    target: float | None = None,
    higher_is_better: bool = True,
    note: str = "",
) -> Measurement:
    """Build a `Measurement` whose value is the median of `samples`."""
    if not samples:
        raise ValueError(f"no samples for {family}/{name}")
    return Measurement(
        family=family,
        name=name,
        value=statistics.median(samples),
        unit=unit,
        target=target,
        higher_is_better=higher_is_better,
        samples=[round(s, 6) for s in samples],
        note=note,
    )


def percentile(values: Sequence[float], pct: float) -> float:
    """The `pct` percentile (0-100) by the nearest-rank method."""
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def repeat(runs: int, once: Callable[[], dict[str, float]]) -> dict[str, list[float]]:
    """Call `once` `runs` times and collect each named number into a list."""
    collected: dict[str, list[float]] = {}
    for _ in range(runs):
        for key, value in once().items():
            collected.setdefault(key, []).append(value)
    return collected


def peak_rss_mib(pid: int) -> float:
    """Peak resident memory (VmHWM) of a live process, in MiB."""
    status = Path(f"/proc/{pid}/status").read_text()
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / PAGE_KIB
    raise ValueError(f"no VmHWM in /proc/{pid}/status")


def wait_for(
    check: Callable[[], bool], timeout: float, what: str, interval: float = 0.002
) -> float:
    """Poll `check` until true; return the `time.time()` it first was; raise on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return time.time()
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not reached within {timeout:.0f}s")
        time.sleep(interval)


def load_average() -> tuple[float, float, float]:
    """The 1, 5 and 15 minute load averages (the machine noise)."""
    return os.getloadavg()


def run_child(
    module: str, spec: dict[str, Any], timeout: float, env: dict[str, str] | None = None
) -> dict[str, Any]:
    """Run `python -m <module> <spec-json>` and return the JSON object on its last stdout line.

    Benchmarked client code (a step, MLflow, a raw producer) runs in a child
    process so its CPU and memory are its own, as in production.
    """
    argv = [sys.executable, "-m", module, json.dumps(spec)]
    child_env = {**os.environ, **(env or {})}
    done = subprocess.run(
        argv, capture_output=True, text=True, timeout=timeout, env=child_env, check=False
    )
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise RuntimeError(
            f"{module} exited with {done.returncode}; stderr tail:\n{done.stderr[-3000:]}"
        )
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def child_main(run: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
    """Entry point of a child: read the spec from argv, print the result as JSON."""
    spec = json.loads(sys.argv[1])
    result = run(spec)
    result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / PAGE_KIB
    print(json.dumps(result), flush=True)


READY_LINE: Final = "bench child ready"


@dataclass
class Child:
    """A running child started by `start_child`; its stderr goes to a temp file
    (a pipe nobody reads while the parent measures could fill and block it)."""

    module: str
    proc: subprocess.Popen[str]
    stderr: IO[str]

    def stderr_tail(self) -> str:
        self.stderr.seek(0)
        return self.stderr.read()[-3000:]

    def fail(self, why: str) -> RuntimeError:
        self.proc.kill()
        self.proc.wait()
        return RuntimeError(f"{self.module} {why}; stderr tail:\n{self.stderr_tail()}")


def start_child(
    module: str, spec: dict[str, Any], timeout: float, env: dict[str, str] | None = None
) -> Child:
    """Start a child that prints `READY_LINE` once set up; return it after that line."""
    argv = [sys.executable, "-m", module, json.dumps(spec)]
    errors = tempfile.TemporaryFile("w+")  # noqa: SIM115 - closed by finish_child
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=errors, text=True, env={**os.environ, **(env or {})}
    )
    child = Child(module, proc, errors)
    if proc.stdout is None:  # pragma: no cover - stdout=PIPE sets it
        raise child.fail("has no stdout pipe")
    deadline = time.monotonic() + timeout
    for line in proc.stdout:
        if line.strip() == READY_LINE:
            return child
        if time.monotonic() > deadline:
            break
    raise child.fail("did not get ready")


def finish_child(child: Child, timeout: float) -> dict[str, Any]:
    """Wait for a child started by `start_child`; return its JSON result.

    Its stdout is read through the same buffered reader that found the ready
    line (in a thread, for the timeout): `communicate(timeout=...)` reads the
    pipe itself and would lose what that reader had already buffered, e.g. a
    result printed right after the ready line.
    """
    stdout = child.proc.stdout
    if stdout is None:  # pragma: no cover - stdout=PIPE sets it
        raise child.fail("has no stdout pipe")
    out: list[str] = []
    reader = threading.Thread(target=lambda: out.append(stdout.read()), daemon=True)
    try:
        reader.start()
        reader.join(timeout)
        if reader.is_alive():
            raise child.fail(f"did not finish within {timeout}s")
        child.proc.wait(timeout=10)
        lines = "".join(out).strip().splitlines()
        if child.proc.returncode != 0 or not lines:
            raise child.fail(f"exited with {child.proc.returncode}")
        result: dict[str, Any] = json.loads(lines[-1])
        return result
    except subprocess.TimeoutExpired:
        raise child.fail("did not exit within 10 s of closing its stdout") from None
    finally:
        stdout.close()
        child.stderr.close()


def signal_ready() -> None:
    """Tell the parent (`start_child`) that this child is set up."""
    print(READY_LINE, flush=True)
