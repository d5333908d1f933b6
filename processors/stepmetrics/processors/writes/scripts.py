"""The apply script (`apply.lua`): its source, its KEYS and its reply.

The Lua lives in `apply.lua` (and `dedup.lua`, included in it) beside this
module and is registered with redis-py (`Redis.register_script`), whose script
object sends `EVALSHA` and loads the script when Redis lacks it (after `SCRIPT
FLUSH` or a restart; inside a pipeline, `Pipeline.execute` checks `SCRIPT
EXISTS` first). The argument layout is documented in the Lua file; `ApplyKeys`
and `ApplyReply` are the Python side of its KEYS and its reply.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources
from typing import Any, Final, NamedTuple

from redis.commands.core import AsyncScript

from stepmetrics.store.connection import RedisClient
from stepmetrics.store.keys import ExecutionKeys
from stepmetrics.store.stats import ApplyCounts


def _lua(name: str) -> str:
    return resources.files("stepmetrics.processors.writes").joinpath(name).read_text("utf-8")


# One script: apply.lua with the dedup functions (dedup.lua) at its include line.
APPLY_LUA: Final = _lua("apply.lua").replace("--#include dedup.lua\n", _lua("dedup.lua"), 1)


# The fixed KEYS of one call, in order; the list value keys follow them.
ApplyKeys = ExecutionKeys


class ApplyReply(NamedTuple):
    """What one call returned (see REPLY in `apply.lua`)."""

    counts: ApplyCounts
    created_us: int | None
    # created_us went down: the stored names below need their index scores lowered
    lowered: bool
    scalar_names: tuple[str, ...]
    list_names: tuple[str, ...]
    pipeline_name: str
    deployment_name: str
    # identity -> why the script refused that envelope alone (nothing of it applied)
    rejected: dict[str, str]
    # the stored pipeline/deployment disagree with the call's: nothing applied
    refused: bool
    dropped_scalar_names: tuple[str, ...]
    dropped_list_names: tuple[str, ...]
    updated_us: int | None
    # the execution's creation stamp: another one = deleted (or lost) and recreated
    incarnation: int | None

    @classmethod
    def parse(cls, raw: Sequence[Any]) -> ApplyReply:
        """Parse the script's raw (bytes) reply."""
        counts, created, lowered, scalar_names, list_names, pipeline, deployment = raw[:7]
        rejected, refused, dropped_scalars, dropped_lists, updated, incarnation = raw[7:]
        return cls(
            counts=ApplyCounts(*(int(count) for count in counts)),
            created_us=int(created) if created else None,
            lowered=bool(lowered),
            scalar_names=tuple(_text(name) for name in scalar_names),
            list_names=tuple(_text(name) for name in list_names),
            pipeline_name=_text(pipeline),
            deployment_name=_text(deployment),
            rejected={
                _text(rejected[i]): _text(rejected[i + 1]) for i in range(0, len(rejected), 2)
            },
            refused=bool(refused),
            dropped_scalar_names=tuple(_text(name) for name in dropped_scalars),
            dropped_list_names=tuple(_text(name) for name in dropped_lists),
            updated_us=int(updated) if updated else None,
            incarnation=int(incarnation) if incarnation else None,
        )


def register_apply(client: RedisClient) -> AsyncScript:
    """The apply script registered with `client` (call it with `client=pipe`)."""
    return client.register_script(APPLY_LUA)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
