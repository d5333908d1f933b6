"""The paged Redis reads of list metrics (the order and the cursors are those
of `stepmetrics.store.page_reads`).

A page stops at `limit` lists or at about `max_values` values, whichever comes
first (always at least one list), so one response stays a few MB of JSON.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TypeAlias

from stepmetrics.store import name_reads
from stepmetrics.store.connection import RedisClient
from stepmetrics.store.endpoints import MAX_PAGE_VALUES
from stepmetrics.store.index import Filter, Position, execution_positions
from stepmetrics.store.keys import RedisKeys
from stepmetrics.store.name_reads import NameScript
from stepmetrics.store.page_reads import (
    META_FIELDS,
    Page,
    chained,
    meta_matches,
    metric,
    name_filter,
    one_field,
    text,
    unpack_values,
)
from stepmetrics.store.slices import scan_hashes_after
from stepmetrics.store.wire import Cursor

# (position, pipeline, deployment, name, created_us) of one list metric.
_ListRef: TypeAlias = tuple[Position, str | None, str | None, str, int]


async def list_page(
    redis: RedisClient,
    keys: RedisKeys,
    flt: Filter | None,
    limit: int,
    cursor: Cursor | None,
    # At most this many values in total (but always at least one list), so
    # one response stays a few MB of JSON.
    max_values: int = MAX_PAGE_VALUES,
    script: NameScript | None = None,
) -> Page:
    """Up to `limit` list metrics (about `max_values` values at most) after
    `cursor` (a name filter through `script` while it is usable)."""
    chosen: list[_ListRef] = []
    total = 0
    more = False
    async for outline in _outlines(redis, keys, flt, cursor, script):
        for ref, length in outline:
            if len(chosen) == limit or (chosen and total + length > max_values):
                more = True
                break
            chosen.append(ref)
            total += length
        if more:
            break
    pipe = redis.pipeline(transaction=False)
    for (_, eid), _, _, name, _ in chosen:
        pipe.get(keys.list_values(eid, name))
    blobs = await pipe.execute() if chosen else []
    items = [
        metric(name, unpack_values(blob or b""), created, eid, pipeline, deployment)
        for ((_, eid), pipeline, deployment, name, created), blob in zip(chosen, blobs, strict=True)
    ]
    if not more:
        return items, None
    (score, eid), _, _, name, _ = chosen[-1]
    return items, Cursor(score, eid, name)


async def _outlines(
    redis: RedisClient,
    keys: RedisKeys,
    flt: Filter | None,
    cursor: Cursor | None,
    script: NameScript | None,
) -> AsyncIterator[list[tuple[_ListRef, int]]]:
    """The lists to read, in result order, with their lengths, in batches."""
    only = name_filter(flt)
    if only is not None and script is not None and script.usable:
        # One round trip per batch on one server: the index, the metas, each
        # list's created_us (HGET lc) and its byte length (STRLEN) together.
        reads = name_reads.NameReads.lists(keys, only)
        start = cursor.position if cursor else None
        batches = name_reads.name_batches(redis, script, reads, start)
        try:
            first = await anext(batches, None)
        except name_reads.ScriptRefused:
            pass  # refused before anything was read: the pipelined reads below
        else:
            async for named in chained(first, batches):
                yield _named_outline(only, named, cursor)
            return
    index = None if only is None else keys.list_name_index(only)
    async for batch in execution_positions(redis, keys, flt, cursor, index):
        yield await _list_outline(redis, keys, batch, flt, cursor)


def _named_outline(
    name: str, rows: list[name_reads.NameRow], cursor: Cursor | None
) -> list[tuple[_ListRef, int]]:
    found: list[tuple[_ListRef, int]] = []
    for row in rows:
        skip = cursor is not None and row.position == cursor.position and name <= cursor.name
        if row.first is None or skip:
            continue
        ref = (row.position, row.pipeline, row.deployment, name, int(row.first))
        found.append((ref, int(row.second or 0) // 8))
    return found


async def _list_outline(
    redis: RedisClient,
    keys: RedisKeys,
    batch: list[Position],
    flt: Filter | None,
    cursor: Cursor | None,
) -> list[tuple[_ListRef, int]]:
    """Each list of `batch` after `cursor`, in result order, with its length."""
    only = name_filter(flt)
    pipe = redis.pipeline(transaction=False)
    for _, eid in batch:
        pipe.hmget(keys.meta(eid), META_FIELDS)
        if only is not None:
            pipe.hget(keys.list_created(eid), only)
    if only is None:
        hashes = [keys.list_created(eid) for _, eid in batch]
        metas, outlines = await scan_hashes_after(pipe, redis, hashes)
    else:
        replies = await pipe.execute()
        metas, outlines = replies[::2], [one_field(only, raw) for raw in replies[1::2]]
    refs: list[_ListRef] = []
    for position, meta, created in zip(batch, metas, outlines, strict=True):
        pipeline, deployment = text(meta[0]), text(meta[1])
        if not meta_matches(flt, pipeline, deployment):
            continue
        skip = cursor.name if cursor and position == cursor.position else None
        for raw_name in sorted(created):
            name = raw_name.decode()
            if skip is None or name > skip:
                refs.append((position, pipeline, deployment, name, int(created[raw_name])))
    pipe = redis.pipeline(transaction=False)
    for (_, eid), _, _, name, _ in refs:
        pipe.strlen(keys.list_values(eid, name))
    sizes = await pipe.execute() if refs else []
    return [(ref, size // 8) for ref, size in zip(refs, sizes, strict=True)]
