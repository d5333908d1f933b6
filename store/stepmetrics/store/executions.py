"""Executions: the newest-first listing and one execution's detail."""

from __future__ import annotations

from typing import cast

from stepmetrics.store.connection import RedisClient
from stepmetrics.store.index import Position, newest_positions
from stepmetrics.store.keys import RedisKeys
from stepmetrics.store.page_reads import (
    META_FIELDS,
    metric,
    scalar_items,
    scalar_rows,
    text,
    unpack_values,
)
from stepmetrics.store.slices import scan_hashes
from stepmetrics.store.stats import META_DROPPED_LIST_VALUES, META_DROPPED_SCALAR_EVENTS
from stepmetrics.store.types import Dropped, ExecutionDetail, ExecutionSummary, ListInfo, Metric
from stepmetrics.store.wire import Cursor, iso_us


async def execution_page(
    redis: RedisClient,
    keys: RedisKeys,
    pipeline_name: str | None,
    deployment_name: str | None,
    limit: int,
    cursor: Cursor | None,
) -> tuple[list[ExecutionSummary], Cursor | None]:
    """Up to `limit` executions, newest first, matching both filters."""
    found: list[ExecutionSummary] = []
    positions: list[Position] = []
    async for batch in newest_positions(redis, keys, pipeline_name, deployment_name, cursor):
        for position, summary in zip(batch, await _summaries(redis, keys, batch), strict=True):
            if summary is None:  # deleted: its index entry outlived it (see lifecycle)
                continue
            if pipeline_name is not None and summary["pipeline_name"] != pipeline_name:
                continue
            if deployment_name is not None and summary["deployment_name"] != deployment_name:
                continue
            if len(found) == limit:
                return found, Cursor(*positions[-1])
            found.append(summary)
            positions.append(position)
    return found, None


async def _summaries(
    redis: RedisClient, keys: RedisKeys, batch: list[Position]
) -> list[ExecutionSummary | None]:
    """The summary of each position; None where the execution has no meta
    (deleted, its index entry not removed yet)."""
    pipe = redis.pipeline(transaction=False)
    for _, eid in batch:
        pipe.hgetall(keys.meta(eid))
        pipe.hlen(keys.scalar_values(eid))
        pipe.hlen(keys.list_created(eid))
    replies = await pipe.execute()
    return [
        summary(eid, score, *replies[i * 3 : i * 3 + 3]) if replies[i * 3] else None
        for i, (score, eid) in enumerate(batch)
    ]


def summary(
    execution_id: str, score: int, meta: dict[bytes, bytes], scalars: int, lists: int
) -> ExecutionSummary:
    created = int(meta.get(b"created_us", score))
    return {
        "execution_id": execution_id,
        "pipeline_name": text(meta.get(b"pipeline_name")),
        "deployment_name": text(meta.get(b"deployment_name")),
        "created_at": iso_us(created),
        "updated_at": iso_us(int(meta.get(b"updated_us", created))),
        "scalar_count": int(scalars),
        "list_count": int(lists),
    }


async def execution_detail(
    redis: RedisClient, keys: RedisKeys, execution_id: str
) -> ExecutionDetail | None:
    """One execution with its scalars and list outlines; None if unknown."""
    # meta holds a few fixed fields; the other hashes grow with the execution.
    meta = cast("dict[bytes, bytes]", await redis.hgetall(keys.meta(execution_id)))
    if not meta:
        return None
    values, orders, created, dropped = await scan_hashes(
        redis,
        [
            keys.scalar_values(execution_id),
            keys.scalar_orders(execution_id),
            keys.list_created(execution_id),
            keys.list_dropped(execution_id),
        ],
    )
    names = sorted(created)
    pipe = redis.pipeline(transaction=False)
    for name in names:
        pipe.strlen(keys.list_values(execution_id, name.decode()))
    sizes = await pipe.execute() if names else []
    head = summary(execution_id, 0, meta, len(values), len(created))
    pipeline, deployment = head["pipeline_name"], head["deployment_name"]
    scalars = scalar_items(scalar_rows(values, orders), execution_id, pipeline, deployment)
    lists: list[ListInfo] = [
        {
            "name": name.decode(),
            "created_at": iso_us(int(created[name])),
            "length": size // 8,
            "dropped": int(dropped.get(name, 0)),
        }
        for name, size in zip(names, sizes, strict=True)
    ]
    drops: Dropped = {
        "scalar_events_by_name_cap": int(meta.get(META_DROPPED_SCALAR_EVENTS.encode(), 0)),
        "list_values_by_name_cap": int(meta.get(META_DROPPED_LIST_VALUES.encode(), 0)),
        "list_values_by_value_cap": sum(info["dropped"] for info in lists),
    }
    return {**head, "scalars": scalars, "lists": lists, "dropped": drops}


async def list_metric(
    redis: RedisClient, keys: RedisKeys, execution_id: str, name: str
) -> Metric | None:
    """One list metric of one execution with its values; None if unknown."""
    pipe = redis.pipeline(transaction=False)
    pipe.hmget(keys.meta(execution_id), META_FIELDS)
    pipe.hget(keys.list_created(execution_id), name)
    pipe.get(keys.list_values(execution_id, name))
    meta, created, blob = await pipe.execute()
    if created is None:
        return None
    values = unpack_values(blob or b"")
    return metric(name, values, int(created), execution_id, text(meta[0]), text(meta[1]))
