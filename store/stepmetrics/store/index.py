"""Walk the execution indexes (sorted sets scored by `created_us`) in batches.

A position is `(score, execution_id)`. Ties of equal scores are ordered by
member bytes (UTF-8, hence code point order, as Python compares str). Walking
restarts from the last position seen rather than from an offset, so an
execution indexed meanwhile never makes a walk repeat one.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, Final, TypeAlias, cast

from stepmetrics.store.connection import RedisClient
from stepmetrics.store.keys import RedisKeys
from stepmetrics.store.wire import Cursor

# (kind, value); kind is one of FILTERS.
Filter: TypeAlias = tuple[str, str]
Position: TypeAlias = tuple[int, str]
FILTERS: Final = ("name", "pipeline_name", "deployment_name", "execution_id")
BATCH: Final = 64
# A walk that asks for it (`max_batch`) doubles its batch after each one up to
# this: a long walk (a page of 10,000 rows) takes a few round trips, not dozens,
# while a short one still reads only BATCH positions first.
MAX_BATCH: Final = 1024


def index_key(keys: RedisKeys, pipeline_name: str | None, deployment_name: str | None) -> str:
    """The index of a deployment's executions, else a pipeline's, else of all."""
    if deployment_name is not None:
        return keys.deployment_index(deployment_name)
    if pipeline_name is not None:
        return keys.pipeline_index(pipeline_name)
    return keys.executions


async def execution_positions(
    redis: RedisClient,
    keys: RedisKeys,
    flt: Filter | None,
    cursor: Cursor | None,
    name_index: str | None,
    max_batch: int = BATCH,
) -> AsyncIterator[list[Position]]:
    """Executions matching `flt`, oldest first, from the cursor's execution on.

    `name_index` is the index to use for a `name` filter (scalar or list);
    batches start at `BATCH` positions and double up to `max_batch`.
    """
    start = cursor.position if cursor else None
    if flt is not None and flt[0] == "execution_id":
        # No existence check: an unknown execution simply has no metrics, and
        # skipping it saves a round trip on the most common small query.
        position = (0, flt[1])
        if start is None or position >= start:
            yield [position]
        return
    if flt is None or flt[0] in ("pipeline_name", "deployment_name"):
        given = dict([flt]) if flt else {}
        key = index_key(keys, given.get("pipeline_name"), given.get("deployment_name"))
    elif name_index is not None:
        key = name_index
    else:  # a caller bug: walking no index would silently find nothing
        raise ValueError(f"filter {flt!r} needs the name index to walk")
    async for batch in walk(redis, key, start, inclusive=True, reverse=False, max_batch=max_batch):
        yield batch


async def newest_positions(
    redis: RedisClient,
    keys: RedisKeys,
    pipeline_name: str | None,
    deployment_name: str | None,
    cursor: Cursor | None,
) -> AsyncIterator[list[Position]]:
    """Executions newest first, strictly after the cursor; the caller checks
    the pipeline when both filters are given (the deployment index is used)."""
    key = index_key(keys, pipeline_name, deployment_name)
    start = cursor.position if cursor else None
    async for batch in walk(redis, key, start, inclusive=False, reverse=True):
        yield batch


# One batch of an index after a bound: (bound or None for the start, members
# with that score to skip, batch size) -> up to that many rows whose first two fields are the
# member (bytes) and its score; the rest is what the fetch read with them.
Fetch: TypeAlias = Callable[[float | None, int, int], Awaitable[Sequence[Sequence[Any]]]]


async def walk(
    redis: RedisClient,
    key: str,
    start: Position | None,
    *,
    inclusive: bool,
    reverse: bool,
    max_batch: int = BATCH,
) -> AsyncIterator[list[Position]]:
    """Positions of `key` in order (descending if `reverse`) from `start`, in
    batches of `BATCH` positions, doubling after each batch up to `max_batch`."""

    async def fetch(bound: float | None, ties: int, size: int) -> Sequence[Sequence[Any]]:
        if reverse:
            high = "+inf" if bound is None else bound
            rows = await redis.zrevrangebyscore(
                key, high, "-inf", start=ties, num=size, withscores=True
            )
        else:
            low = "-inf" if bound is None else bound
            rows = await redis.zrangebyscore(
                key, low, "+inf", start=ties, num=size, withscores=True
            )
        return _pairs(rows)

    batches = walk_rows(fetch, start, inclusive=inclusive, reverse=reverse, max_batch=max_batch)
    async for batch in batches:
        yield [position for position, _ in batch]


async def walk_rows(
    fetch: Fetch,
    start: Position | None,
    *,
    inclusive: bool,
    reverse: bool,
    max_batch: int = BATCH,
) -> AsyncIterator[list[tuple[Position, Sequence[Any]]]]:
    """Batches of (position, row) from `fetch`, in index order from `start`:
    restarting each batch after the last score seen (skipping the members of
    that score already seen), so nothing indexed meanwhile makes it repeat.
    Batches start at `BATCH` rows and double after each one up to `max_batch`."""
    bound: float | None = None if start is None else start[0]
    ties = 0  # members already seen with score == bound
    size = BATCH
    while True:
        rows = await fetch(bound, ties, size)
        found = [((int(float(row[1])), _member(row[0])), row) for row in rows]
        keep = [(p, row) for p, row in found if _after(p, start, inclusive, reverse)]
        if keep:
            yield keep
        if len(rows) < size:
            return
        size = min(max(size, max_batch), size * 2)
        last = found[-1][0][0]
        same = sum(1 for (score, _), _ in found if score == last)
        ties = ties + same if last == bound else same
        bound = last


def _member(raw: object) -> str:
    return raw.decode() if isinstance(raw, bytes) else str(raw)


def _pairs(rows: object) -> list[tuple[bytes, float]]:
    # redis-py types replies loosely; WITHSCORES gives (member bytes, score float).
    return cast("list[tuple[bytes, float]]", rows)


def _after(position: Position, start: Position | None, inclusive: bool, reverse: bool) -> bool:
    if start is None or (inclusive and position == start):
        return True
    return position < start if reverse else position > start
