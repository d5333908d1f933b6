"""Name queries on one redis-server: each batch in one script call.

A page of `name=` walks the metric's name index, then reads a few fields of
each execution found. As pipelined commands that is two round trips per batch
of the index; `name_batch.lua` (beside this module) does both in Redis, in
one. It builds the keys of the executions it finds, which a Redis Cluster
does not allow (they live on other nodes than the index), so it is only used
on one server (`applies`); on a cluster the page reads stay pipelined.

The script is run with `EVALSHA_RO` (loaded with `SCRIPT LOAD` when Redis
lacks it, as redis-py's script objects do for `EVALSHA`); Redis checks every
command a script calls against the caller's ACL too. The least-privilege
reader user (`READER_ACL_COMMANDS`: `+@read`) may not run scripts: the first
refusal (`NOPERM`) is logged once and that `NameScript` falls back to the
pipelined reads for good. Granting `+evalsha_ro +script|load` enables it.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any, Final, NamedTuple

from redis.asyncio.cluster import RedisCluster
from redis.exceptions import NoPermissionError, NoScriptError

from stepmetrics.store.connection import RedisClient
from stepmetrics.store.index import BATCH, MAX_BATCH, Position, walk_rows
from stepmetrics.store.keys import RedisKeys, around_tag

logger = logging.getLogger(__name__)

NAME_BATCH_LUA: Final = (
    resources.files("stepmetrics.store").joinpath("name_batch.lua").read_text("utf-8")
)
# Redis names scripts by their SHA-1 (not a security use).
NAME_BATCH_SHA: Final = hashlib.sha1(NAME_BATCH_LUA.encode(), usedforsecurity=False).hexdigest()
# Fields per member in the script's reply (see REPLY in name_batch.lua).
REPLY_FIELDS: Final = 6


@dataclass(frozen=True, slots=True)
class NameReads:
    """What the script reads of each execution (its ARGV 4..9)."""

    index: str
    head: str
    meta: str
    first: str
    second: str
    mode: str
    name: str

    @classmethod
    def scalars(cls, keys: RedisKeys, name: str) -> NameReads:
        """The value (`sv`) and order (`so`) of scalar `name`."""
        head, meta = around_tag(keys.meta)
        return cls(
            keys.scalar_name_index(name),
            head,
            meta,
            around_tag(keys.scalar_values)[1],
            around_tag(keys.scalar_orders)[1],
            "hget",
            name,
        )

    @classmethod
    def lists(cls, keys: RedisKeys, name: str) -> NameReads:
        """The created_us (`lc`) and the byte length of the values of list `name`."""
        head, meta = around_tag(keys.meta)
        return cls(
            keys.list_name_index(name),
            head,
            meta,
            around_tag(keys.list_created)[1],
            around_tag(lambda eid: keys.list_values(eid, name))[1],
            "strlen",
            name,
        )

    def argv(self, low: float | None, offset: int, size: int = BATCH) -> list[Any]:
        low_arg = "-inf" if low is None else int(low)
        return [low_arg, offset, size, self.head, self.meta, self.first, self.second,
                self.mode, self.name]  # fmt: skip


class NameRow(NamedTuple):
    """One execution of a name index and what the script read of it."""

    position: Position
    pipeline: str | None
    deployment: str | None
    first: bytes | None
    second: bytes | int | None


class ScriptRefused(Exception):
    """Redis refused the script to this user (ACL): use the pipelined reads."""


class NameScript:
    """Whether name queries may use the script: one server, and not refused yet.

    Args:
        redis: the client the reads go through.
    """

    def __init__(self, redis: RedisClient) -> None:
        self.usable = not isinstance(redis, RedisCluster)

    def refused(self, exc: NoPermissionError) -> ScriptRefused:
        """Stop using the script (logged once); the error to raise."""
        if self.usable:
            logger.warning(
                "name queries use pipelined reads: Redis refused the read-only script "
                "(%s); grant the reader +evalsha_ro +script|load for one round trip per page",
                exc,
            )
        self.usable = False
        return ScriptRefused(str(exc))


async def name_batches(
    redis: RedisClient, script: NameScript, reads: NameReads, start: Position | None
) -> AsyncIterator[list[NameRow]]:
    """The executions of `reads.index` from `start` on (inclusive), in index
    order, in batches, each batch with its fields in one round trip.

    Raises:
        ScriptRefused: Redis refused the script (`script` is then unusable).
    """

    async def fetch(low: float | None, offset: int, size: int) -> Sequence[Sequence[Any]]:
        try:
            flat = await _call(redis, [reads.index], reads.argv(low, offset, size))
        except NoPermissionError as exc:
            raise script.refused(exc) from exc
        return [flat[i : i + REPLY_FIELDS] for i in range(0, len(flat), REPLY_FIELDS)]

    async for batch in walk_rows(fetch, start, inclusive=True, reverse=False, max_batch=MAX_BATCH):
        yield [
            NameRow(position, _text(row[2]), _text(row[3]), row[4], row[5])
            for position, row in batch
        ]


async def _call(redis: RedisClient, keys: list[str], argv: list[Any]) -> list[Any]:
    try:
        reply = await redis.evalsha_ro(NAME_BATCH_SHA, len(keys), *keys, *argv)
    except NoScriptError:  # a restarted or flushed Redis: load it once, then again
        await redis.script_load(NAME_BATCH_LUA)
        reply = await redis.evalsha_ro(NAME_BATCH_SHA, len(keys), *keys, *argv)
    return list(reply)


def _text(raw: bytes | None) -> str | None:
    return None if raw is None else raw.decode()
