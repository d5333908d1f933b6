"""Delete one execution: its keys and tombstone in one script, then its index entries.

`delete.lua` (beside this module, registered with redis-py's
`register_script`) removes every key of the execution in its own slot and
writes the tombstone `P:{E}:tomb` (see `stepmetrics.store.keys`) that keeps
the worker from applying anything to it again until it expires. The global
indexes live in other slots, so `delete_execution` then removes the execution
from each of them in one pipeline of ZREMs (idempotent). Readers skip an index
entry whose execution is gone, so a crash between the two steps only leaves
entries that a repeated delete (it answers "tombstoned" and removes them
again from the names the tombstone kept) or retention clean up.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any, Final, Literal, NamedTuple

from redis.commands.core import AsyncScript
from redis.exceptions import RedisClusterException, RedisError

from stepmetrics.store.connection import RedisClient
from stepmetrics.store.errors import StoreUnavailableError
from stepmetrics.store.keys import ExecutionKeys, RedisKeys
from stepmetrics.store.stats import EXECUTIONS_DELETED

DELETE_LUA: Final = (
    resources.files("stepmetrics.store.lifecycle").joinpath("delete.lua").read_text("utf-8")
)
# Least privilege: the Redis ACL commands a deleter needs (the worker's
# retention; the reader API only when deleting is on, see docs/reader-api.md).
DELETER_ACL_COMMANDS: Final = (
    "+evalsha", "+script|load", "+script|exists", "+hmget", "+exists", "+hgetall",
    "+hkeys", "+unlink", "+del", "+hset", "+expire", "+time", "+zrem", "+hincrby",
)  # fmt: skip
_FAILURES = (RedisError, RedisClusterException, OSError)
Status = Literal["deleted", "tombstoned", "unknown", "fresh"]
STATUSES: Final[tuple[Status, ...]] = ("deleted", "tombstoned", "unknown", "fresh")


# The KEYS of one call, in order (all in the execution's hash tag).
DeleteKeys = ExecutionKeys


class DeleteReply(NamedTuple):
    """What one call returned (see REPLY in `delete.lua`)."""

    status: Status
    pipeline_name: str
    deployment_name: str
    scalar_names: tuple[str, ...]
    list_names: tuple[str, ...]

    @classmethod
    def parse(cls, raw: Sequence[Any]) -> DeleteReply:
        """Parse the script's raw (bytes) reply."""
        status, pipeline, deployment, scalars, lists = raw
        text = _text(status)
        if text not in STATUSES:  # a script and module out of step: fail loudly
            raise ValueError(f"delete.lua answered status {text!r}; expected one of {STATUSES}")
        return cls(
            text,
            _text(pipeline),
            _text(deployment),
            tuple(_text(name) for name in scalars),
            tuple(_text(name) for name in lists),
        )


@dataclass(frozen=True, slots=True)
class Deleter:
    """Deletes executions of one key layout; safe to run twice and concurrently.

    Args:
        client: an asyncio Redis client (single server or cluster; the caller
            owns and closes it).
        keys: the key layout (prefix).
        tombstone_seconds: how long a deleted execution stays tombstoned.
    """

    client: RedisClient
    keys: RedisKeys
    tombstone_seconds: int
    script: AsyncScript

    @classmethod
    def create(cls, client: RedisClient, keys: RedisKeys, tombstone_seconds: int) -> Deleter:
        if tombstone_seconds < 1:
            raise ValueError(f"tombstone_seconds must be >= 1, got {tombstone_seconds}")
        return cls(client, keys, tombstone_seconds, client.register_script(DELETE_LUA))

    async def delete(
        self,
        execution_id: str,
        older_than_us: int | None = None,
        counter: str = EXECUTIONS_DELETED,
    ) -> DeleteReply:
        """Delete `execution_id` (only if last updated before `older_than_us`,
        when given), remove it from every index it is in and, when it was
        deleted now, add one to the `P:stats` counter `counter`.

        Returns the script's reply: "deleted" the first time, "tombstoned"
        when it was deleted before (the index cleanup is done again), "unknown"
        when there was nothing, "fresh" when it was updated too recently.
        Raises:
            StoreUnavailableError: Redis failed or refused (e.g. an ACL user
                without the `DELETER_ACL_COMMANDS`); calling again is safe.
        """
        args = (
            self.keys.list_values(execution_id, ""),
            self.tombstone_seconds,
            "" if older_than_us is None else older_than_us,
        )
        try:
            raw = await self.script(keys=DeleteKeys.of(self.keys, execution_id), args=args)
            reply = DeleteReply.parse(raw)
            if reply.status != "fresh":
                await self._unindex(execution_id, reply, counter)
        except _FAILURES as exc:
            raise StoreUnavailableError(f"Redis could not delete: {exc}") from exc
        return reply

    async def _unindex(self, execution_id: str, reply: DeleteReply, counter: str) -> None:
        pipe = self.client.pipeline(transaction=False)
        for key in index_keys(self.keys, reply):
            pipe.zrem(key, execution_id)
        if reply.status == "deleted":
            pipe.hincrby(self.keys.stats, counter, 1)
        await pipe.execute()


def index_keys(keys: RedisKeys, reply: DeleteReply) -> list[str]:
    """Every index an execution with the reply's names is in."""
    found = [keys.executions, keys.updated]
    if reply.pipeline_name:
        found.append(keys.pipeline_index(reply.pipeline_name))
    if reply.deployment_name:
        found.append(keys.deployment_index(reply.deployment_name))
    found += [keys.scalar_name_index(name) for name in reply.scalar_names]
    found += [keys.list_name_index(name) for name in reply.list_names]
    return found


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
