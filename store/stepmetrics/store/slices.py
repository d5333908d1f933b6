"""Read hashes of any size in bounded slices: `HSCAN ... COUNT`, never `HGETALL`.

An execution's hashes (scalar values and orders, list outlines) can hold
10,000 fields or more. One `HGETALL` of such a hash is one reply Redis builds
while serving nobody else, and one unbounded buffer here; `HSCAN` returns
about `SLICE` fields per call. The first slice of every hash goes in one
pipelined round trip (a hash of up to a few hundred fields comes back whole in
it), with whatever else the caller needs in that round trip
(`scan_hashes_after`); further slices only for the hashes that have more,
again pipelined.

Like the pipelined reads they replace, slices are not a snapshot: a field
written while a hash is read may be missing from the result (never torn).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final, TypeAlias

from stepmetrics.store.connection import RedisClient

if TYPE_CHECKING:
    from redis.asyncio.client import Pipeline as _Single
    from redis.asyncio.cluster import ClusterPipeline

Pipeline: TypeAlias = "_Single | ClusterPipeline"

# Fields per HSCAN reply (a hint Redis follows closely for large hashes).
SLICE: Final = 1000


async def scan_hashes(
    redis: RedisClient, keys: Sequence[str], count: int = SLICE
) -> list[dict[bytes, bytes]]:
    """The fields of each hash in `keys` (missing: empty), read in slices of ~`count`."""
    return (await scan_hashes_after(redis.pipeline(transaction=False), redis, keys, count))[1]


async def scan_hashes_after(
    pipe: Pipeline, redis: RedisClient, keys: Sequence[str], count: int = SLICE
) -> tuple[list[Any], list[dict[bytes, bytes]]]:
    """`scan_hashes` whose first round trip also runs the commands already
    queued in `pipe`: (their replies, the fields of each hash)."""
    ahead = len(pipe)
    found: list[dict[bytes, bytes]] = [{} for _ in keys]
    pending = {i: 0 for i in range(len(keys))}  # hash index -> HSCAN cursor
    before: list[Any] | None = None
    while pending or before is None:
        for i, cursor in pending.items():
            pipe.hscan(keys[i], cursor, count=count)
        replies = await pipe.execute() if len(pipe) else []
        if before is None:
            before, replies = replies[:ahead], replies[ahead:]
        for i, (cursor, fields) in zip(list(pending), replies, strict=True):
            found[i].update(fields)  # a rehash can repeat a field: same value
            if int(cursor) == 0:
                del pending[i]
            else:
                pending[i] = int(cursor)
        pipe = redis.pipeline(transaction=False)
    return before, found
