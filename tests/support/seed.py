"""TEST-ONLY: write executions in the documented Redis layout (keys.py).

Lets the reader tests set exact record times, creation times and drop counts
that the real writer only derives. That the writer and the reader agree on the
layout is proven end to end by tests/integration/test_end_to_end.py.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from stepmetrics.processors.writes.reduce import pack_values
from stepmetrics.store.connection import RedisClient
from stepmetrics.store.keys import RedisKeys

# A scalar is its value, or (value, ts_us of the kept value).
Scalar = float | tuple[float, int]


async def seed_execution(
    redis: RedisClient,
    keys: RedisKeys,
    execution_id: str,
    *,
    pipeline_name: str,
    deployment_name: str | None = None,
    created_us: int,
    updated_us: int | None = None,
    scalars: Mapping[str, Scalar] | None = None,
    lists: Mapping[str, Sequence[float]] | None = None,
    dropped: Mapping[str, int] | None = None,
) -> None:
    """Write one execution; scalars without a time get `created_us + i`."""
    meta: dict[Any, Any] = {
        "pipeline_name": pipeline_name,
        "created_us": str(created_us),
        "updated_us": str(updated_us or created_us),
    }
    if deployment_name is not None:
        meta["deployment_name"] = deployment_name
    # No MULTI: the indexes live in other cluster slots than the execution.
    pipe = redis.pipeline(transaction=False)
    pipe.hset(keys.meta(execution_id), mapping=meta)
    # As the worker does for each applied envelope: the reader API caches
    # answers about an execution per version.
    pipe.hincrby(keys.meta(execution_id), "version", 1)
    for i, (name, scalar) in enumerate(sorted((scalars or {}).items())):
        value, ts_us = scalar if isinstance(scalar, tuple) else (scalar, created_us + i)
        pipe.hset(keys.scalar_values(execution_id), name, repr(float(value)))
        pipe.hset(keys.scalar_orders(execution_id), name, f"{ts_us} {i} 0")
        pipe.zadd(keys.scalar_name_index(name), {execution_id: created_us}, lt=True)
    for i, (name, values) in enumerate(sorted((lists or {}).items())):
        pipe.hset(keys.list_created(execution_id), name, str(created_us + 1000 + i))
        pipe.append(keys.list_values(execution_id, name), pack_values(values))
        pipe.zadd(keys.list_name_index(name), {execution_id: created_us}, lt=True)
    for name, count in (dropped or {}).items():
        pipe.hset(keys.list_dropped(execution_id), name, str(count))
    pipe.zadd(keys.executions, {execution_id: created_us}, lt=True)
    pipe.zadd(keys.pipeline_index(pipeline_name), {execution_id: created_us}, lt=True)
    if deployment_name is not None:
        pipe.zadd(keys.deployment_index(deployment_name), {execution_id: created_us}, lt=True)
    await pipe.execute()
