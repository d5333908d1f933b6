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
from collections.abc import AsyncIterator
from itertools import repeat
from operator import itemgetter
from typing import Final, TypeAlias, TypeVar

from stepmetrics.store import name_reads
from stepmetrics.store.connection import RedisClient
from stepmetrics.store.index import BATCH, MAX_BATCH, Filter, Position, execution_positions
from stepmetrics.store.keys import RedisKeys
from stepmetrics.store.name_reads import NameScript
from stepmetrics.store.slices import scan_hashes_after
from stepmetrics.store.types import Metric, ScalarColumns
from stepmetrics.store.wire import Cursor, iso_us, iso_us_many

META_FIELDS: Final = ("pipeline_name", "deployment_name")
# Executions one pipelined read of scalars holds at most (3 commands each).
MAX_CHUNK: Final = 512
_BIG_ENDIAN: Final = sys.byteorder == "big"

_T = TypeVar("_T")
Page: TypeAlias = tuple[list[Metric], Cursor | None]
# (name, value, order) as stored; sorting the UTF-8 names as bytes is code point order.
ScalarRow: TypeAlias = tuple[bytes, bytes, bytes]
# (execution id, pipeline, deployment, rows) of one execution in a page.
ScalarGroup: TypeAlias = tuple[str, str | None, str | None, list[ScalarRow]]
# (pipeline, deployment, rows) of one execution.
_Scalars: TypeAlias = tuple[str | None, str | None, list[ScalarRow]]


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


def meta_matches(flt: Filter | None, pipeline: str | None, deployment: str | None) -> bool:
    """Whether an execution's current meta still matches a pipeline or
    deployment filter (its index entry could predate a rename)."""
    if flt is None or flt[0] not in ("pipeline_name", "deployment_name"):
        return True
    return flt[1] == (pipeline if flt[0] == "pipeline_name" else deployment)


def name_filter(flt: Filter | None) -> str | None:
    return flt[1] if flt is not None and flt[0] == "name" else None


async def scalar_groups(
    redis: RedisClient,
    keys: RedisKeys,
    flt: Filter | None,
    limit: int,
    cursor: Cursor | None,
    script: NameScript | None = None,
) -> tuple[list[ScalarGroup], Cursor | None]:
    """Up to `limit` scalar metrics matching `flt` after `cursor`, grouped by
    execution (a name filter through `script` while it is usable)."""
    groups: list[ScalarGroup] = []
    count = 0
    last: tuple[int, str, bytes] | None = None
    async for batch in _scalar_batches(redis, keys, flt, cursor, script, limit):
        for (score, eid), (pipeline, deployment, rows) in batch:
            if not meta_matches(flt, pipeline, deployment):
                continue
            if cursor and (score, eid) == cursor.position:
                rows = rows[bisect_right(rows, cursor.name.encode(), key=itemgetter(0)) :]
            taken = rows[: limit - count]
            if taken:
                groups.append((eid, pipeline, deployment, taken))
                count += len(taken)
                last = (score, eid, taken[-1][0])
            if len(rows) > len(taken) and last is not None:
                return groups, Cursor(last[0], last[1], last[2].decode())
    return groups, None


async def scalar_page(
    redis: RedisClient,
    keys: RedisKeys,
    flt: Filter | None,
    limit: int,
    cursor: Cursor | None,
    script: NameScript | None = None,
) -> Page:
    """`scalar_groups` as the documented metric items."""
    groups, next_cursor = await scalar_groups(redis, keys, flt, limit, cursor, script)
    if len(groups) == 1:
        eid, pipeline, deployment, rows = groups[0]
        return scalar_items(rows, eid, pipeline, deployment), next_cursor
    # Many small groups (a name filter: one row each): the times of the whole
    # page are formatted in one pass, the items built in one comprehension.
    rows = [row for group in groups for row in group[3]]
    owners = [group for group in groups for _ in group[3]]
    created = iso_us_many(_stamps(rows))
    items: list[Metric] = [
        {
            "name": name.decode(),
            "value": float(raw),
            "created_at": at,
            "execution_id": eid,
            "deployment_name": deployment,
            "pipeline_name": pipeline,
        }
        for (name, raw, _), at, (eid, pipeline, deployment, _) in zip(
            rows, created, owners, strict=True
        )
    ]
    return items, next_cursor


def scalar_columns(group: ScalarGroup) -> ScalarColumns:
    """One group of `scalar_groups` as columns (no dict per metric)."""
    eid, pipeline, deployment, rows = group
    return {
        "execution_id": eid,
        "pipeline_name": pipeline,
        "deployment_name": deployment,
        "names": [name.decode() for name, _, _ in rows],
        "values": [float(raw) for _, raw, _ in rows],
        "created_at": iso_us_many(_stamps(rows)),
    }


async def _scalar_batches(
    redis: RedisClient,
    keys: RedisKeys,
    flt: Filter | None,
    cursor: Cursor | None,
    script: NameScript | None,
    limit: int,
) -> AsyncIterator[list[tuple[Position, _Scalars]]]:
    """The executions to read, in order, in batches, each with its scalars.

    Without the script the index is walked in growing batches
    (`index.MAX_BATCH`), each read in chunks of about as many executions as
    the `limit` rows still missing need at the rate seen so far (`chunk_size`):
    a 10,000-row page takes a few round trips and reads few executions past
    its end.
    """
    only = name_filter(flt)
    if only is not None and script is not None and script.usable:
        # One round trip per batch (index and fields together) on one server.
        reads = name_reads.NameReads.scalars(keys, only)
        start = cursor.position if cursor else None
        batches = name_reads.name_batches(redis, script, reads, start)
        try:
            first = await anext(batches, None)
        except name_reads.ScriptRefused:
            first = None  # refused before anything was read: the pipelined reads below
        else:
            async for named in chained(first, batches):
                yield [
                    (row.position, (row.pipeline, row.deployment, _named_scalar(only, row)))
                    for row in named
                ]
            return
    index = None if only is None else keys.scalar_name_index(only)
    rows = executions = 0  # read so far
    positions = execution_positions(redis, keys, flt, cursor, index, max_batch=MAX_BATCH)
    async for batch in positions:
        while batch:
            size = chunk_size(max(1, limit - rows), rows, executions)
            chunk, batch = batch[:size], batch[size:]
            loaded = await _load_scalars(redis, keys, chunk, only)
            executions += len(chunk)
            rows += sum(len(found) for _, _, found in loaded)
            yield list(zip(chunk, loaded, strict=True))


async def chained(first: _T | None, rest: AsyncIterator[_T]) -> AsyncIterator[_T]:
    """`first` (none if None: `rest` was empty), then the rest of `rest`."""
    if first is None:
        return
    yield first
    async for item in rest:
        yield item


def _named_scalar(name: str, row: name_reads.NameRow) -> list[ScalarRow]:
    """The one row of scalar `name` the script read (none if the execution lacks it)."""
    if row.first is None:
        return []
    order = row.second if isinstance(row.second, bytes) else b"0"
    return [(name.encode(), row.first, order)]


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
    return [
        {
            "name": name.decode(),
            "value": float(raw),
            "created_at": created,
            "execution_id": eid,
            "deployment_name": deployment,
            "pipeline_name": pipeline,
        }
        for (name, raw, _), created in zip(rows, iso_us_many(_stamps(rows)), strict=True)
    ]


def _stamps(rows: list[ScalarRow]) -> list[str]:
    """The record times (µs, decimal) of the rows: the first field of each order."""
    if not rows:
        return []
    return b" ".join([order.partition(b" ")[0] for _, _, order in rows]).decode().split(" ")


async def _load_scalars(
    redis: RedisClient, keys: RedisKeys, batch: list[Position], only: str | None
) -> list[_Scalars]:
    pipe = redis.pipeline(transaction=False)
    for _, eid in batch:
        pipe.hmget(keys.meta(eid), META_FIELDS)
        if only is not None:
            pipe.hget(keys.scalar_values(eid), only)
            pipe.hget(keys.scalar_orders(eid), only)
    if only is None:
        # All scalars of each execution, in slices however many there are; the
        # first slices in the same round trip as the metas.
        hashes = [key for _, eid in batch for key in _scalar_keys(keys, eid)]
        metas, flat = await scan_hashes_after(pipe, redis, hashes)
        pairs = list(zip(flat[::2], flat[1::2], strict=True))
    else:
        replies = await pipe.execute()
        found = zip(replies[1::3], replies[2::3], strict=True)
        metas, pairs = replies[::3], [(one_field(only, v), one_field(only, o)) for v, o in found]
    return [
        (text(meta[0]), text(meta[1]), scalar_rows(values, orders))
        for meta, (values, orders) in zip(metas, pairs, strict=True)
    ]


def _scalar_keys(keys: RedisKeys, eid: str) -> tuple[str, str]:
    return keys.scalar_values(eid), keys.scalar_orders(eid)


def one_field(name: str, raw: bytes | None) -> dict[bytes, bytes]:
    """One field read with HGET as the hash slice it is."""
    return {} if raw is None else {name.encode(): raw}
