"""Start-up check that the Redis settings match the Redis that answers.

A worker or reader API pointed at a Redis Cluster node without
`STEPMETRICS_REDIS_CLUSTER=true` talks to that node as if it were the whole
store: every key of a slot another node owns gets a `MOVED` reply. The worker
would then refuse (dead-letter) most envelopes, one by one, and the API would
answer 500s. `check_redis_mode` finds this before anything is consumed or
served: one pipelined round trip of `TYPE` on keys whose hash tags spread over
the whole slot range (a 3-master cluster owns each slot range on a different
node), commands the least-privilege ACL users of docs/deployment.md may run.
A one-node "cluster" owns every slot and works as a single server, so it passes.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Final

from stepmetrics.envvars import redact
from stepmetrics.store.connection import REDIS_CLUSTER, RedisConnection
from stepmetrics.store.errors import StoreSettingsError
from stepmetrics.store.keys import RedisKeys

if TYPE_CHECKING:
    from stepmetrics.store.connection import RedisClient

logger = logging.getLogger(__name__)

SLOTS: Final = 16_384  # Redis Cluster's slot count
PROBES: Final = 16  # keys whose slots spread evenly over the range
_MOVED: Final = ("MOVED", "ASK", "CLUSTERDOWN")


def probe_tags(count: int = PROBES) -> list[str]:
    """Hash tags, one in each of `count` equal parts of the slot range."""
    from redis.crc import key_slot

    tags: dict[int, str] = {}
    candidate = 0
    while len(tags) < count:
        tag = f"preflight-{candidate}"
        tags.setdefault(key_slot(tag.encode()) * count // SLOTS, tag)
        candidate += 1
    return [tags[part] for part in sorted(tags)]


async def check_redis_mode(
    client: RedisClient, connection: RedisConnection, keys: RedisKeys
) -> None:
    """Raise `StoreSettingsError` if a cluster node is used as a single server."""
    if connection.cluster:
        return  # redis-py's cluster client refuses a non-cluster node by itself
    async with client.pipeline(transaction=False) as pipe:
        for tag in probe_tags():
            pipe.type(keys.meta(tag))
        replies = await pipe.execute(raise_on_error=False)
    moved = [reply for reply in replies if isinstance(reply, Exception) and _is_moved(reply)]
    if moved:
        reply = f"{type(moved[0]).__name__} {str(moved[0])[:80]}"
        raise StoreSettingsError(
            f"Redis at {redact(connection.url)} is a Redis Cluster node (it answered "
            f"{reply!r} for a key of another node): set {REDIS_CLUSTER.name}=true "
            "to use the cluster"
        )


async def verify_redis(connection: RedisConnection, keys: RedisKeys, reply_seconds: float) -> None:
    """Connect, run `check_redis_mode`, close: the start-up check of a command.

    A Redis that does not answer yet is not a settings error (the worker retries
    and the API reports it on /readyz): it is logged and the command starts.
    """
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    client = connection.connect(timeout=reply_seconds)
    try:
        await check_redis_mode(client, connection, keys)
    except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
        logger.warning(
            "Redis at %s does not answer yet, its mode is not checked: %s",
            redact(connection.url),
            exc,
        )
    finally:
        await client.aclose()


def _is_moved(reply: Exception) -> bool:
    return str(reply).startswith(_MOVED) or type(reply).__name__ in ("MovedError", "AskError")
