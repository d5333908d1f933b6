"""A fleet of many small executions, recorded through the real pipeline by several steps.

`Fleet` describes executions 0, 1, 2, ... of one benchmark run: execution i
records `scalars` scalar metrics `<names>0`, `<names>1`, ... (value of the
k-th: i * scalars + k)
and, when i is a multiple of `list_every`, one list metric `l0` of `list_len`
values 0.0, 1.0, ... The first `big` executions belong to one pipeline
(`<tag>-big`, the one a full scan reads), the others to pipelines of
`pipeline_size` executions; each pipeline has `deployments` deployments
(execution i in deployment i mod `deployments`). The spec is a few numbers,
so a step child gets its share as a range, not as a list of ids.

`fill()` records a range of executions in `steps` step children at once
(`benchmarks/children/fleet.py`, each many executions through `step_context`),
waits until the worker's counters (`P:stats`, added after the data and the
indexes are written) say all of it is applied, then checks every stored value
(if other work on the stack moved the counters too, it checks again until all
is there, and the fill ends then).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Any, Final

from benchmarks.children import FLEET
from benchmarks.harness.dataset import redis_keys
from benchmarks.harness.runner import wait_for
from stepmetrics.processors.writes.reduce import pack_values
from stepmetrics.store.keys import RedisKeys
from tests.support.services import BenchStack, SyncRedis

VERIFY_CHUNK: Final = 500  # executions per pipelined verification round trip
# A step blocks (instead of dropping) while its buffer is full: the fill must lose nothing.
STEP_ENV: Final = {"STEPMETRICS_BUFFER_BLOCK_TIMEOUT": "120"}


@dataclass(frozen=True, slots=True)
class Fleet:
    """The layout of one run's executions (see the module doc)."""

    tag: str
    big: int
    pipeline_size: int
    names: str = "m"  # scalar m<k> is named f"{names}{k}"
    deployments: int = 2
    scalars: int = 20
    list_every: int = 10
    list_len: int = 1000

    def execution_id(self, i: int) -> str:
        return f"{self.tag}-{i:07d}"

    def pipeline(self, i: int) -> str:
        if i < self.big:
            return f"{self.tag}-big"
        return f"{self.tag}-p{(i - self.big) // self.pipeline_size}"

    def deployment(self, i: int) -> str:
        return f"{self.pipeline(i)}-d{i % self.deployments}"

    def has_list(self, i: int) -> bool:
        return i % self.list_every == 0

    def values(self, first: int, count: int) -> tuple[int, int]:
        """(scalar events, list values) that executions first..first+count-1 record."""
        lists = sum(1 for i in range(first, first + count) if self.has_list(i))
        return count * self.scalars, lists * self.list_len

    def as_spec(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True, slots=True)
class Filled:
    """What one `fill()` recorded and how long it took to become queryable."""

    executions: int
    scalar_events: int
    list_values: int
    seconds: float  # first record call of any step .. everything applied


def fill(stack: BenchStack, fleet: Fleet, first: int, count: int, steps: int) -> Filled:
    """Record executions first..first+count-1 in `steps` parallel step children."""
    client, keys = stack.sync_redis(), redis_keys()
    scalar_events, list_values = fleet.values(first, count)
    try:
        base = _counters(client, keys)
        env = {**os.environ, **stack.step_env(), **STEP_ENV}
        children = [
            _Step({"fleet": fleet.as_spec(), "first": lo, "count": hi - lo}, env)
            for lo, hi in _shares(first, count, steps)
        ]
        timeout = 120 + count / 100
        done_at = wait_for(
            lambda: _applied(client, keys, base, scalar_events, list_values),
            timeout=timeout,
            what=f"{count} executions applied",
            interval=0.05,
        )
        results = [child.finish(timeout=timeout) for child in children]
        started = min(got["start_at"] for got in results)
        if done_at < max(got["recorded_at"] for got in results):
            done_at = 0.0  # counted before all was recorded: other work moved the counters
        done_at = _verified(client, keys, fleet, (first, count), done_at, timeout)
    finally:
        client.close()
    return Filled(count, scalar_events, list_values, done_at - started)


def _verified(
    client: SyncRedis,
    keys: RedisKeys,
    fleet: Fleet,
    span: tuple[int, int],
    counted_at: float,
    timeout: float,
) -> float:
    """When the range was all there: `counted_at` if it verifies at once, else
    (`counted_at` 0: other work on the stack moved the counters too) when it
    first does."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            verify(client, keys, fleet, *span)
        except FleetMismatchError:
            if time.monotonic() > deadline:
                raise
            counted_at = 0.0
            time.sleep(0.5)
            continue
        return counted_at or time.time()


def _shares(first: int, count: int, steps: int) -> list[tuple[int, int]]:
    steps = max(1, min(steps, count))
    bounds = [first + count * s // steps for s in range(steps + 1)]
    return list(itertools.pairwise(bounds))


class FleetMismatchError(RuntimeError):
    """Redis does not (yet) hold what the fleet recorded."""


class _Step:
    """One fleet step child. Its output goes to temp files: the parent reads
    them once it exited (a short child can finish before the parent looks)."""

    def __init__(self, spec: dict[str, Any], env: dict[str, str]) -> None:
        self._out = tempfile.TemporaryFile("w+")  # noqa: SIM115 - closed by finish
        self._err = tempfile.TemporaryFile("w+")  # noqa: SIM115 - closed by finish
        argv = [sys.executable, "-m", FLEET, json.dumps(spec)]
        self._proc = subprocess.Popen(argv, stdout=self._out, stderr=self._err, env=env, text=True)

    def finish(self, timeout: float) -> dict[str, Any]:
        """The child's JSON result; raise if it failed, timed out or lost values."""
        try:
            self._proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._out.seek(0)
        self._err.seek(0)
        lines, errors = self._out.read().strip().splitlines(), self._err.read()[-3000:]
        self._out.close()
        self._err.close()
        if self._proc.returncode != 0 or not lines:
            raise RuntimeError(f"{FLEET} exited with {self._proc.returncode}:\n{errors}")
        got: dict[str, Any] = json.loads(lines[-1])
        if not got["flushed"] or got["lost"]:
            raise RuntimeError(f"a fleet step lost values: {got}")
        return got


def _counters(client: SyncRedis, keys: RedisKeys) -> tuple[int, int]:
    events, values = client.hmget(keys.stats, ["events_applied", "list_values_appended"])
    return int(events or 0), int(values or 0)


def _applied(
    client: SyncRedis, keys: RedisKeys, base: tuple[int, int], events: int, values: int
) -> bool:
    # events_applied also counts each list event and each step's warm-up event.
    now = _counters(client, keys)
    return now[0] - base[0] >= events and now[1] - base[1] >= values


def verify(client: SyncRedis, keys: RedisKeys, fleet: Fleet, first: int, count: int) -> None:
    """Check every scalar, every list and the pipeline and deployment of each execution."""
    packed = pack_values([float(v) for v in range(fleet.list_len)])
    for lo in range(first, first + count, VERIFY_CHUNK):
        ids = range(lo, min(first + count, lo + VERIFY_CHUNK))
        pipe = client.pipeline(transaction=False)
        for i in ids:
            eid = fleet.execution_id(i)
            pipe.hgetall(keys.scalar_values(eid))
            pipe.hmget(keys.meta(eid), ["pipeline_name", "deployment_name"])
            pipe.get(keys.list_values(eid, "l0"))
        replies = pipe.execute()
        for n, i in enumerate(ids):
            scalars, meta, blob = replies[3 * n : 3 * n + 3]
            expected = {
                f"{fleet.names}{k}".encode(): repr(float(i * fleet.scalars + k)).encode()
                for k in range(fleet.scalars)
            }
            if scalars != expected:
                raise FleetMismatchError(f"{fleet.execution_id(i)}: {len(scalars)} scalars stored")
            if meta != [fleet.pipeline(i).encode(), fleet.deployment(i).encode()]:
                raise FleetMismatchError(f"{fleet.execution_id(i)}: stored under {meta}")
            if blob != (packed if fleet.has_list(i) else None):
                raise FleetMismatchError(
                    f"{fleet.execution_id(i)}: list l0 is not what was recorded"
                )
