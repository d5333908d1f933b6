"""What the store holds: the number of executions and the memory Redis uses.

`/api/v1/stats` reports both beside the worker's counters so that an operator
can follow growth and size Redis (docs/operations.md). `used_memory` is Redis'
own figure (`INFO memory`), for the whole server or, on a Redis Cluster, the
sum over the masters (replicas hold copies and are not counted); it includes
Redis' fixed overhead and any other data in the same Redis, while the number
of executions counts this prefix only (`ZCARD` of `P:idx:executions`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, TypedDict

from stepmetrics.store.connection import RedisClient
from stepmetrics.store.keys import RedisKeys

USED_MEMORY: Final = "used_memory"


class Capacity(TypedDict):
    """The two capacity figures of `/api/v1/stats`."""

    executions: int
    redis_used_memory_bytes: int


async def execution_count(client: RedisClient, keys: RedisKeys) -> int:
    """How many executions the store indexes (one sorted-set cardinality: O(1))."""
    return int(await client.zcard(keys.executions))


async def used_memory_bytes(client: RedisClient) -> int:
    """`used_memory` of the server, or the sum over a cluster's masters."""
    from redis.asyncio.cluster import RedisCluster

    if isinstance(client, RedisCluster):
        reply = await client.info("memory", target_nodes=RedisCluster.PRIMARIES)
    else:
        reply = await client.info("memory")
    return sum_used_memory(reply)


def sum_used_memory(reply: Mapping[str, Any]) -> int:
    """`used_memory` of one `INFO memory` reply, or the sum of a reply per node
    (redis-py's cluster client answers {node name: reply})."""
    if USED_MEMORY in reply:
        return int(reply[USED_MEMORY])
    nodes = [node for node in reply.values() if isinstance(node, Mapping)]
    if not nodes or any(USED_MEMORY not in node for node in nodes):
        raise ValueError(f"INFO memory answered without {USED_MEMORY}: {str(reply)[:200]}")
    return sum(int(node[USED_MEMORY]) for node in nodes)


async def capacity(client: RedisClient, keys: RedisKeys) -> Capacity:
    """Both figures, read now."""
    return {
        "executions": await execution_count(client, keys),
        "redis_used_memory_bytes": await used_memory_bytes(client),
    }
