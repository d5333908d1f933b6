"""Read executions back as the stored facts that recreate them (for `stepmetrics export`).

Pure reads over a redis-py client, in bounded slices: the hashes of an
execution with `HSCAN` (`stepmetrics.store.slices.SLICE` fields per reply),
list values with `GETRANGE` (`VALUE_SLICE` values per reply), so a caller that
streams what it gets never holds a whole execution. What is read:

- `ExecutionHead`: pipeline, deployment, created_us, updated_us, version (meta);
- `StoredScalar`: every scalar with its value and the timestamp of its order
  (`P:{E}:so` holds "ts_us seq idx" of the kept value);
- `StoredList`: every list's name, created_at (`P:{E}:lc`) and length, then
  its values in order.

Not carried (no event recreates them): the counters of what the worker's
limits dropped (`ld`, `dropped_*` in meta; `dropped_values` sums them, for the
report) and the exactly-once state (`seq`). Like
the other reads, this is no snapshot: what the worker writes meanwhile may or
may not be included (a list is read up to the length seen at its outline).
Turning the facts into envelopes is the composition's job (`stepmetrics.stack`):
the store does not know the event contract.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Final, cast

from redis.exceptions import RedisClusterException, RedisError

from stepmetrics.store.connection import RedisClient
from stepmetrics.store.errors import StoreUnavailableError
from stepmetrics.store.index import index_key, walk
from stepmetrics.store.keys import RedisKeys
from stepmetrics.store.page_reads import unpack_values
from stepmetrics.store.slices import SLICE, scan_hashes
from stepmetrics.store.stats import META_DROPPED_LIST_VALUES, META_DROPPED_SCALAR_EVENTS

# Values per GETRANGE (8 bytes each: 64 KiB per reply).
VALUE_SLICE: Final = 8192
_FAILURES = (RedisError, RedisClusterException, OSError)


@dataclass(frozen=True, slots=True)
class ExecutionHead:
    """An execution's meta: who it belongs to and its time span (µs)."""

    execution_id: str
    pipeline_name: str
    deployment_name: str | None
    created_us: int
    updated_us: int
    # The meta `version` as stored ("" when absent): changes with every applied envelope.
    version: str


@dataclass(frozen=True, slots=True)
class StoredScalar:
    """One scalar as kept: its value and the record time of that value."""

    name: str
    value: float
    ts_us: int


@dataclass(frozen=True, slots=True)
class StoredList:
    """One list's outline: its created_at (first value's record time) and length."""

    name: str
    created_us: int
    length: int


@contextmanager
def redis_errors() -> Iterator[None]:
    """Redis failures as `StoreUnavailableError` (retriable)."""
    try:
        yield
    except _FAILURES as exc:
        raise StoreUnavailableError(f"Redis read failed: {exc}") from exc


async def execution_ids(
    redis: RedisClient, keys: RedisKeys, pipeline_name: str | None, deployment_name: str | None
) -> AsyncIterator[str]:
    """Ids of a deployment's (else a pipeline's, else all) executions, oldest first."""
    key = index_key(keys, pipeline_name, deployment_name)
    async for batch in walk(redis, key, None, inclusive=True, reverse=False):
        for _, execution_id in batch:
            yield execution_id


async def read_head(redis: RedisClient, keys: RedisKeys, execution_id: str) -> ExecutionHead | None:
    """The execution's meta; None when it is unknown (or has no pipeline)."""
    fields = ("pipeline_name", "deployment_name", "created_us", "updated_us", "version")
    raw = await redis.hmget(keys.meta(execution_id), fields)
    pipeline, deployment, created, updated, version = cast("list[bytes | None]", raw)
    if pipeline is None or created is None:
        return None
    return ExecutionHead(
        execution_id=execution_id,
        pipeline_name=pipeline.decode(),
        deployment_name=None if deployment is None else deployment.decode(),
        created_us=int(created),
        updated_us=int(updated or created),
        version="" if version is None else version.decode(),
    )


async def scalar_slices(
    redis: RedisClient, keys: RedisKeys, head: ExecutionHead, count: int = SLICE
) -> AsyncIterator[list[StoredScalar]]:
    """The execution's scalars, about `count` per slice (HSCAN order).

    A scalar without an order (written before orders existed) gets the
    execution's created_us as its time.
    """
    eid = head.execution_id
    cursor = 0
    while True:
        cursor, reply = await redis.hscan(keys.scalar_values(eid), cursor, count=count)
        values = cast("dict[bytes, bytes]", reply)
        names = list(values)
        orders = await redis.hmget(keys.scalar_orders(eid), names) if names else []
        found = [
            StoredScalar(name.decode(), float(values[name]), _order_ts(order, head.created_us))
            for name, order in zip(names, cast("list[bytes | None]", orders), strict=True)
        ]
        if found:
            yield found
        if int(cursor) == 0:
            return


def _order_ts(order: bytes | None, default: int) -> int:
    return default if not order else int(order.split(b" ", 1)[0])


async def list_slices(
    redis: RedisClient, keys: RedisKeys, execution_id: str, count: int = SLICE
) -> AsyncIterator[list[StoredList]]:
    """The execution's list outlines, about `count` per slice (HSCAN order)."""
    cursor = 0
    while True:
        cursor, reply = await redis.hscan(keys.list_created(execution_id), cursor, count=count)
        created = cast("dict[bytes, bytes]", reply)
        names = list(created)
        pipe = redis.pipeline(transaction=False)
        for name in names:
            pipe.strlen(keys.list_values(execution_id, name.decode()))
        sizes = await pipe.execute() if names else []
        if names:
            yield [
                StoredList(name.decode(), int(created[name]), int(size) // 8)
                for name, size in zip(names, sizes, strict=True)
            ]
        if int(cursor) == 0:
            return


async def dropped_values(redis: RedisClient, keys: RedisKeys, execution_id: str) -> int:
    """What the worker's limits dropped from the execution (counted, not carried)."""
    fields = (META_DROPPED_SCALAR_EVENTS, META_DROPPED_LIST_VALUES)
    by_name = await redis.hmget(keys.meta(execution_id), fields)
    total = sum(int(n) for n in cast("list[bytes | None]", by_name) if n)
    (by_cap,) = await scan_hashes(redis, [keys.list_dropped(execution_id)])
    return total + sum(int(n) for n in by_cap.values())


async def list_values(
    redis: RedisClient,
    keys: RedisKeys,
    execution_id: str,
    outline: StoredList,
    count: int = VALUE_SLICE,
) -> AsyncIterator[list[float]]:
    """The list's first `outline.length` values in order, `count` per slice."""
    key = keys.list_values(execution_id, outline.name)
    for start in range(0, outline.length, count):
        stop = min(start + count, outline.length)
        packed = await redis.getrange(key, start * 8, stop * 8 - 1)
        yield unpack_values(cast("bytes", packed))
