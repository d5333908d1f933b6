"""One measured window of the fan-in benchmark: step processes record, the parent watches.

`FanIn.window(rate)` starts the step processes (`benchmarks.children.fanin_step`,
the executions dealt round robin), starts them together, and while they record
polls Redis for a sample of the executions' lists (each value is its record
time, so each value's age when first seen is its record-to-queryable
latency). When the steps are done it waits until every execution's last tick
is visible, then checks every execution (list length and last scalar) and
reads how much CPU each process used and how many envelopes the worker(s)
applied (`P:stats`).
"""

from __future__ import annotations

import struct
import tempfile
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, cast

from benchmarks.children import FANIN_STEP
from benchmarks.children.fanin_step import LIST, SCALAR
from benchmarks.harness import dataset
from benchmarks.harness.procstat import cpu_snapshot, cpu_used
from benchmarks.harness.runner import Child, finish_child, percentile, start_child
from stepmetrics.store.keys import RedisKeys
from tests.support.services import BenchStack, SyncRedis

PIPELINE: Final = "bench-fanin"
SAMPLED: Final = 40  # executions whose every value's latency is read
COUNTED_WAIT_S: Final = 10.0  # for P:stats to include the last batch
POLL_S: Final = 0.005
FULL_CHECK_S: Final = 0.05  # how often the parent checks all executions once steps are done
DOUBLE: Final = struct.Struct("<d")
COUNTERS: Final = ("envelopes_applied", "events_applied")


@dataclass(frozen=True, slots=True)
class Window:
    """What one window measured; rates in events/s (a tick = 2 events)."""

    rate: float  # ticks/s asked of each execution
    seconds: float  # how long the steps were asked to record
    offered: float  # events/s the steps recorded (what they achieved)
    applied: float  # events/s from the first record to all queryable
    p50_ms: float
    p99_ms: float
    drain_s: float  # from the last record to all queryable
    recorded: int  # events the steps recorded
    envelopes: int  # applied by the worker(s) in the window (P:stats)
    events: int  # applied likewise (a step's warm-up value may land in the window too)
    wall_s: float
    cpu_s: dict[str, float]  # process name -> CPU seconds in the window

    executions: int

    @property
    def asked(self) -> float:
        """Events/s asked of the steps."""
        return self.rate * self.executions * 2


class FanIn:
    """Fan-in windows on `stack`: `executions` spread over `processes` step processes."""

    def __init__(
        self, stack: BenchStack, executions: int, processes: int, workers: Mapping[str, int]
    ) -> None:
        self.stack, self.executions, self.processes = stack, executions, processes
        self.workers = dict(workers)  # name -> pid of each worker in the group
        self.keys = dataset.redis_keys()

    def window(self, rate: float, seconds: float) -> Window:
        """Record `rate` ticks/s in each execution for `seconds`; measure; check it all."""
        ids = [f"{dataset.unique('fanin')}-{i}" for i in range(self.executions)]
        groups = [ids[p :: self.processes] for p in range(self.processes)]
        with tempfile.TemporaryDirectory(prefix="bench-fanin-") as tmp:
            go = Path(tmp) / "go"
            # In parallel: each step imports the SDK and connects before it is ready.
            with ThreadPoolExecutor(len(groups)) as pool:
                steps = list(pool.map(lambda g: self._start(g, rate, seconds, go), groups))
            client = self.stack.sync_redis()
            try:
                return self._measure(client, steps, ids, go, (rate, seconds))
            finally:
                client.close()
                for step in steps:
                    if step.proc.poll() is None:
                        step.proc.kill()
                        step.proc.wait()
                    step.stderr.close()

    def _start(self, group: list[str], rate: float, seconds: float, go: Path) -> Child:
        spec = {
            "executions": group,
            "pipeline": PIPELINE,
            "rate": rate,
            "seconds": seconds,
            "go_file": str(go),
            "warmup_execution": f"{group[0]}-warmup",
        }
        return start_child(FANIN_STEP, spec, timeout=120, env=self.stack.step_env())

    def _pids(self) -> dict[str, int]:
        services = {name: self.stack.pid(name) for name in ("broker", "redis")}
        return {**self.workers, **services}

    def _measure(
        self,
        client: SyncRedis,
        steps: list[Child],
        ids: list[str],
        go: Path,
        asked: tuple[float, float],
    ) -> Window:
        counters_before, cpu_before = _counters(client, self.keys), cpu_snapshot(self._pids())
        go.touch()
        started = time.time()
        sample = ids[:: max(1, len(ids) // SAMPLED)][:SAMPLED]
        poller = _Poller(client, self.keys, sample)
        while any(step.proc.poll() is None for step in steps):
            poller.poll()
            time.sleep(POLL_S)
        results = [finish_child(step, timeout=60) for step in steps]
        ticks = _check_steps(results)
        done_at = self._wait_all(client, poller, ids, ticks)
        cpu = cpu_used(cpu_before, cpu_snapshot(self._pids()))
        events = 2 * ticks * len(ids)
        counters = self._counted(client, counters_before, events)
        self._verify(client, ids, ticks, poller, len(sample))
        first = min(float(r["start_at"]) for r in results)
        cpu["steps"] = sum(float(r["cpu_s"]) for r in results)
        return Window(
            rate=asked[0],
            seconds=asked[1],
            offered=2 * sum(float(r["achieved_rate"]) for r in results),
            applied=events / (done_at - first),
            p50_ms=percentile(poller.latencies, 50) * 1000,
            p99_ms=percentile(poller.latencies, 99) * 1000,
            drain_s=done_at - max(float(r["end_at"]) for r in results),
            recorded=events,
            envelopes=counters["envelopes_applied"],
            events=counters["events_applied"],
            wall_s=done_at - started,
            cpu_s=cpu,
            executions=len(ids),
        )

    def _counted(self, client: SyncRedis, before: dict[str, int], events: int) -> dict[str, int]:
        """The worker's counters since `before`, once they include `events`: the
        worker adds a batch to `P:stats` after its data is queryable, so a read
        right after the last value showed up can miss the last batch (bounded wait)."""
        deadline = time.monotonic() + COUNTED_WAIT_S
        while True:
            counters = {k: v - before[k] for k, v in _counters(client, self.keys).items()}
            if counters["events_applied"] >= events or time.monotonic() > deadline:
                return counters
            time.sleep(POLL_S)

    def _wait_all(self, client: SyncRedis, poller: _Poller, ids: list[str], ticks: int) -> float:
        deadline = time.monotonic() + 300
        wanted = [DOUBLE.size * ticks] * len(ids)
        checked = 0.0
        while True:
            poller.poll()
            if time.monotonic() - checked >= FULL_CHECK_S:
                checked = time.monotonic()
                if _lengths(client, self.keys, ids) == wanted:
                    return time.time()
            if time.monotonic() > deadline:
                raise self._stuck(client, ids, wanted)
            time.sleep(POLL_S)

    def _stuck(self, client: SyncRedis, ids: list[str], wanted: list[int]) -> TimeoutError:
        """What did not arrive, with the workers' last log lines (a stalled partition?)."""
        lengths = _lengths(client, self.keys, ids)
        late = [eid for eid, got, want in zip(ids, lengths, wanted, strict=True) if got != want]
        logs = "\n".join(
            f"--- {name} (pid {pid}):\n{_log_tail(pid)}" for name, pid in self.workers.items()
        )
        return TimeoutError(
            f"{len(late)} of {len(ids)} fan-in executions not queryable within 300 s "
            f"(e.g. {late[:3]}); worker logs:\n{logs}"
        )

    def _verify(
        self, client: SyncRedis, ids: list[str], ticks: int, poller: _Poller, sampled: int
    ) -> None:
        pipe = client.pipeline(transaction=False)
        for eid in ids:
            pipe.hget(self.keys.scalar_values(eid), SCALAR)
        last = repr(float(ticks - 1)).encode()
        wrong = [eid for eid, got in zip(ids, pipe.execute(), strict=True) if got != last]
        if wrong:
            raise RuntimeError(f"{len(wrong)} executions lack their last {SCALAR}, e.g. {wrong[0]}")
        poller.poll()
        if len(poller.latencies) != sampled * ticks:
            raise RuntimeError(
                f"{len(poller.latencies)} sampled values seen, not {sampled} x {ticks}"
            )


class _Poller:
    """Reads the new values of the sampled executions' lists and their ages."""

    def __init__(self, client: SyncRedis, keys: RedisKeys, sample: Sequence[str]) -> None:
        self.client = client
        self.list_keys = [keys.list_values(eid, LIST) for eid in sample]
        self.seen = [0] * len(sample)
        self.latencies: list[float] = []

    def poll(self) -> None:
        pipe = self.client.pipeline(transaction=False)
        for key in self.list_keys:
            pipe.strlen(key)
        sizes = pipe.execute()
        grown = [(i, size) for i, size in enumerate(sizes) if size > self.seen[i]]
        if not grown:
            return
        now = time.time()
        pipe = self.client.pipeline(transaction=False)
        for i, size in grown:
            pipe.getrange(self.list_keys[i], self.seen[i], size - 1)
        for (i, size), fresh in zip(grown, pipe.execute(), strict=True):
            self.latencies.extend(now - t for (t,) in DOUBLE.iter_unpack(cast(bytes, fresh)))
            self.seen[i] = size


def _log_tail(pid: int, lines: int = 15) -> str:
    """The last lines of a stack app's log (its stdout is `<cwd>/<name>.log`)."""
    cwd = Path(f"/proc/{pid}/cwd").resolve()
    logs = sorted(cwd.glob("*.log"))
    if not logs:
        return f"(no log in {cwd})"
    return "\n".join(logs[0].read_text(errors="replace").splitlines()[-lines:])


def _lengths(client: SyncRedis, keys: RedisKeys, ids: list[str]) -> list[int]:
    pipe = client.pipeline(transaction=False)
    for eid in ids:
        pipe.strlen(keys.list_values(eid, LIST))
    return [int(n) for n in pipe.execute()]


def _counters(client: SyncRedis, keys: RedisKeys) -> dict[str, int]:
    values = client.hmget(keys.stats, list(COUNTERS))
    return {name: int(v or 0) for name, v in zip(COUNTERS, cast(list[Any], values), strict=True)}


def _check_steps(results: list[dict[str, Any]]) -> int:
    """Ticks per execution (the same in every step); fails on a loss in a step."""
    for r in results:
        if not r["flushed"] or r["dropped"]:
            raise RuntimeError(f"a fan-in step lost values: {r}")
    ticks = {int(r["ticks_per_execution"]) for r in results}
    if len(ticks) != 1:
        raise RuntimeError(f"fan-in steps disagree on ticks per execution: {sorted(ticks)}")
    return ticks.pop()
