"""The paged Redis reads: pages of scalar and list metrics from the layout of `keys.py`.

Order (deterministic, the basis of cursor pagination): the execution's index
score (its `created_us`: oldest execution first), then execution id, then
metric name (code point order). A cursor is the position of the last item
returned, so later pages never repeat an item. An execution whose `created_us`
is lowered by a late event while someone pages moves before the cursor and is
missed by that walk (the worker only ever lowers scores).
"""

from __future__ import annotations

import sys
from array import array
from bisect import bisect_right
from itertools import repeat
from operator import itemgetter
from typing import Final, TypeAlias

from stepmetrics.store.connection import RedisClient
from stepmetrics.store.endpoints import MAX_PAGE_VALUES
from stepmetrics.store.index import BATCH, MAX_BATCH, Filter, Position, execution_positions
from stepmetrics.store.keys import RedisKeys
from stepmetrics.store.slices import scan_hashes
from stepmetrics.store.types import Metric
from stepmetrics.store.wire import Cursor, iso_us, iso_us_many

META_FIELDS: Final = ("pipeline_name", "deployment_name")
# Executions one pipelined read of scalars holds at most (3 commands each).
MAX_CHUNK: Final = 512
_BIG_ENDIAN: Final = sys.byteorder == "big"

Page: TypeAlias = tuple[list[Metric], Cursor | None]
# (name, value, order) as stored; sorting the UTF-8 names as bytes is code point order.
ScalarRow: TypeAlias = tuple[bytes, bytes, bytes]
# (position, pipeline, deployment, name, created_us) of one list metric.
_ListRef: TypeAlias = tuple[Position, str | None, str | None, str, int]


def unpack_values(data: bytes) -> list[float]:
    """Decode a list value: packed little-endian float64."""
    values = array("d")
    # A torn tail cannot happen with the worker's whole-value appends; drop it
    # rather than fail (slicing copies, so only when needed).
    values.frombytes(data if len(data) % 8 == 0 else data[: len(data) - len(data) % 8])
    if _BIG_ENDIAN:
        values.byteswap()
    return values.tolist()


def text(raw: bytes | None) -> str | None:
    return None if raw is None else raw.decode()


def metric(
    name: str,
    value: float | list[float],
    ts_us: int,
    execution_id: str,
    pipeline: str | None,
    deployment: str | None,
) -> Metric:
    return {
        "name": name,
        "value": value,
        "created_at": iso_us(ts_us),
        "execution_id": execution_id,
        "deployment_name": deployment,
        "pipeline_name": pipeline,
    }


def _matches(flt: Filter | None, pipeline: str | None, deployment: str | None) -> bool:
    """Whether an execution's current meta still matches a pipeline or
    deployment filter (its index entry could predate a rename)."""
    if flt is None or flt[0] not in ("pipeline_name", "deployment_name"):
        return True
    return flt[1] == (pipeline if flt[0] == "pipeline_name" else deployment)


def _only(flt: Filter | None) -> str | None:
    return flt[1] if flt is not None and flt[0] == "name" else None


async def scalar_page(
    redis: RedisClient, keys: RedisKeys, flt: Filter | None, limit: int, cursor: Cursor | None
) -> Page:
    """Up to `limit` scalar metrics matching `flt` after `cursor`.

    The index is walked in growing batches (`index.MAX_BATCH`), and each batch
    is read in chunks of about as many executions as the rows still missing
    need at the rate seen so far (`chunk_size`): a 10,000-row page takes a few
    round trips, and reads few executions past its end.
    """
    items: list[Metric] = []
    last: tuple[int, str, bytes] | None = None
    only = _only(flt)
    index = None if only is None else keys.scalar_name_index(only)
    seen = 0  # executions read so far
    positions = execution_positions(redis, keys, flt, cursor, index, max_batch=MAX_BATCH)
    async for batch in positions:
        while batch:
            size = chunk_size(limit - len(items), len(items), seen)
            chunk, batch = batch[:size], batch[size:]
            seen += len(chunk)
            loaded = await _load_scalars(redis, keys, chunk, only)
            for (score, eid), (pipeline, deployment, rows) in zip(chunk, loaded, strict=True):
                if not _matches(flt, pipeline, deployment):
                    continue
                if cursor and (score, eid) == cursor.position:
                    rows = rows[bisect_right(rows, cursor.name.encode(), key=itemgetter(0)) :]
                room = limit - len(items)
                items.extend(scalar_items(rows[:room], eid, pipeline, deployment))
                if rows[:room]:
                    last = (score, eid, rows[:room][-1][0])
                if len(rows) > room and last is not None:
                    return items, Cursor(last[0], last[1], last[2].decode())
    return items, None


def chunk_size(room: int, rows: int, executions: int) -> int:
    """How many executions to read next for `room` more rows, after `rows`
    rows from `executions` executions: `BATCH` before any was read, then the
    estimate plus one (a page then usually ends in the chunk that fills it),
    at least 1 and at most `MAX_CHUNK`."""
    if executions == 0 or rows == 0:
        return BATCH
    return max(1, min(MAX_CHUNK, -(-room * executions // rows) + 1))


def scalar_rows(values: dict[bytes, bytes], orders: dict[bytes, bytes]) -> list[ScalarRow]:
    """Stored scalars (the `sv` and `so` hashes) as rows sorted by name."""
    # Sorting the names alone and zipping at C speed beats sorting tuples.
    names = sorted(values)
    found = map(values.__getitem__, names)
    return list(zip(names, found, map(orders.get, names, repeat(b"0")), strict=True))


def scalar_items(
    rows: list[ScalarRow], eid: str, pipeline: str | None, deployment: str | None
) -> list[Metric]:
    """Metrics of stored scalar rows (name, value, order), in row order."""
    # This loop is most of the cost of a 1,000-scalar query: the times are
    # formatted in one pass (shared per-second prefixes), then one
    # comprehension builds the items with no call per item but conversions.
    if not rows:
        return []
    stamps = b" ".join([order.partition(b" ")[0] for _, _, order in rows]).decode().split(" ")
    return [
        {
            "name": name.decode(),
            "value": float(raw),
            "created_at": created,
            "execution_id": eid,
            "deployment_name": deployment,
            "pipeline_name": pipeline,
        }
        for (name, raw, _), created in zip(rows, iso_us_many(stamps), strict=True)
    ]


_Scalars: TypeAlias = tuple[str | None, str | None, list[ScalarRow]]


async def _load_scalars(
    redis: RedisClient, keys: RedisKeys, batch: list[Position], only: str | None
) -> list[_Scalars]:
    pipe = redis.pipeline(transaction=False)
    for _, eid in batch:
        pipe.hmget(keys.meta(eid), META_FIELDS)
        if only is not None:
            pipe.hget(keys.scalar_values(eid), only)
            pipe.hget(keys.scalar_orders(eid), only)
    replies = await pipe.execute()
    if only is None:
        # All scalars of each execution: in slices, however many there are.
        hashes = [key for _, eid in batch for key in _scalar_keys(keys, eid)]
        flat = await scan_hashes(redis, hashes)
        metas, pairs = replies, list(zip(flat[::2], flat[1::2], strict=True))
    else:
        found = zip(replies[1::3], replies[2::3], strict=True)
        metas, pairs = replies[::3], [(_one(only, v), _one(only, o)) for v, o in found]
    return [
        (text(meta[0]), text(meta[1]), scalar_rows(values, orders))
        for meta, (values, orders) in zip(metas, pairs, strict=True)
    ]


def _scalar_keys(keys: RedisKeys, eid: str) -> tuple[str, str]:
    return keys.scalar_values(eid), keys.scalar_orders(eid)


def _one(name: str, raw: bytes | None) -> dict[bytes, bytes]:
    """One field read with HGET as the hash slice it is."""
    return {} if raw is None else {name.encode(): raw}


async def list_page(
    redis: RedisClient,
    keys: RedisKeys,
    flt: Filter | None,
    limit: int,
    cursor: Cursor | None,
    # At most this many values in total (but always at least one list), so
    # one response stays a few MB of JSON.
    max_values: int = MAX_PAGE_VALUES,
) -> Page:
    """Up to `limit` list metrics (about `max_values` values at most) after `cursor`."""
    chosen: list[_ListRef] = []
    total = 0
    more = False
    only = _only(flt)
    index = None if only is None else keys.list_name_index(only)
    async for batch in execution_positions(redis, keys, flt, cursor, index):
        for ref, length in await _list_outline(redis, keys, batch, flt, cursor):
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


async def _list_outline(
    redis: RedisClient,
    keys: RedisKeys,
    batch: list[Position],
    flt: Filter | None,
    cursor: Cursor | None,
) -> list[tuple[_ListRef, int]]:
    """Each list of `batch` after `cursor`, in result order, with its length."""
    only = _only(flt)
    pipe = redis.pipeline(transaction=False)
    for _, eid in batch:
        pipe.hmget(keys.meta(eid), META_FIELDS)
        if only is not None:
            pipe.hget(keys.list_created(eid), only)
    replies = await pipe.execute()
    if only is None:
        metas = replies
        outlines = await scan_hashes(redis, [keys.list_created(eid) for _, eid in batch])
    else:
        metas, outlines = replies[::2], [_one(only, raw) for raw in replies[1::2]]
    refs: list[_ListRef] = []
    for position, meta, created in zip(batch, metas, outlines, strict=True):
        pipeline, deployment = text(meta[0]), text(meta[1])
        if not _matches(flt, pipeline, deployment):
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
