"""Load a described dataset through the real pipeline and wait until it is queryable.

An execution spec (a dict, JSON-able for the step child) has `id`,
`pipeline`, optional `deployment`, `scalars` names (`names` + index, default
prefix "m") recorded `rounds` times (value of name m in round r:
r * scalars + m), and `lists` lists of `list_len` values 0.0, 1.0, ...
recorded in calls of `chunk`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Any, Final

from benchmarks.children import STEP
from benchmarks.harness.runner import finish_child, start_child, wait_for
from stepmetrics.processors.writes.reduce import pack_values
from stepmetrics.store.keys import DEFAULT_PREFIX, RedisKeys
from tests.support.services import BenchStack, SyncRedis

Execution = dict[str, Any]
POLL_S: Final = 0.002


def redis_keys() -> RedisKeys:
    """The keys the worker writes (it reads the same variable)."""
    return RedisKeys(os.environ.get("STEPMETRICS_REDIS_PREFIX") or DEFAULT_PREFIX)


def execution(eid: str, pipeline: str, **shape: Any) -> Execution:
    """An execution spec; `shape` holds deployment, scalars, rounds, lists, list_len, chunk."""
    return {"id": eid, "pipeline": pipeline, **shape}


def events(executions: Sequence[Execution]) -> tuple[int, int]:
    """(scalar events, list values) the executions record."""
    scalars = sum(e.get("scalars", 0) * e.get("rounds", 1) for e in executions)
    values = sum(e.get("lists", 0) * e.get("list_len", 0) for e in executions)
    return scalars, values


def ingest(stack: BenchStack, executions: Sequence[Execution], timeout: float = 300) -> float:
    """Record `executions` in one step child; return seconds from its first record
    call until all of it is queryable, after checking every stored value."""
    spec = {"mode": "workload", "executions": list(executions)}
    step = start_child(STEP, spec, timeout=120, env=stack.step_env())
    client, keys = stack.sync_redis(), redis_keys()
    try:
        done_at = wait_for(
            lambda: _all_landed(client, keys, executions),
            timeout=timeout,
            what=f"{len(executions)} executions queryable",
            interval=POLL_S,
        )
        got = finish_child(step, timeout=timeout)
        for spec_one in executions:
            _verify(client, keys, spec_one)
    finally:
        client.close()
    return done_at - float(got["start_at"])


def _final(execution: Execution, name: int) -> bytes:
    scalars = execution["scalars"]
    return repr(float((execution.get("rounds", 1) - 1) * scalars + name)).encode()


def _name(execution: Execution, index: int) -> str:
    return f"{execution.get('names', 'm')}{index}"


def _all_landed(client: SyncRedis, keys: RedisKeys, executions: Sequence[Execution]) -> bool:
    """True once the last thing each execution records is visible (an execution is
    one partition, applied in order, so everything before it is there too)."""
    pipe = client.pipeline(transaction=False)
    wanted: list[Any] = []
    for e in executions:
        if e.get("lists"):
            pipe.strlen(keys.list_values(e["id"], f"l{e['lists'] - 1}"))
            wanted.append(8 * e["list_len"])
        elif e.get("scalars"):
            pipe.hget(keys.scalar_values(e["id"]), _name(e, e["scalars"] - 1))
            wanted.append(_final(e, e["scalars"] - 1))
    return bool(pipe.execute() == wanted)


def _verify(client: SyncRedis, keys: RedisKeys, e: Execution) -> None:
    eid, scalars = e["id"], e.get("scalars", 0)
    if scalars:
        stored = client.hgetall(keys.scalar_values(eid))
        expected = {_name(e, m).encode(): _final(e, m) for m in range(scalars)}
        if stored != expected:
            raise RuntimeError(f"{eid}: {len(stored)} scalars stored, not the {scalars} expected")
    length = e.get("list_len", 0)
    packed = pack_values([float(v) for v in range(length)])
    for n in range(e.get("lists", 0)):
        if client.get(keys.list_values(eid, f"l{n}")) != packed:
            raise RuntimeError(f"{eid}: list l{n} does not hold the {length} recorded values")


def unique(tag: str) -> str:
    """A fresh execution-id prefix, so repeats never overlap."""
    return f"bench-{tag}-{time.time_ns()}"
