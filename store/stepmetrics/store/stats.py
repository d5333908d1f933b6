"""The worker's counters in `P:stats`, where an operator can read them.

The apply script counts what it applied and skipped, and the writer adds that
here right after the batch (a separate command: these counters live in another
Redis Cluster slot than the executions). They are exact unless that addition
fails after the batch was written (logged); replaying an envelope adds to
`duplicates_skipped` and nothing else. `dead_lettered` is counted by the worker
(a crash between producing the dead letter and committing can count a message
twice); `lag` and `lag_updated_us` are overwritten periodically by the worker.
"""

from __future__ import annotations

from typing import Final

import redis.asyncio as aioredis

from stepmetrics.store.keys import RedisKeys

ENVELOPES_APPLIED: Final = "envelopes_applied"
EVENTS_APPLIED: Final = "events_applied"
LIST_VALUES_APPENDED: Final = "list_values_appended"
DUPLICATES_SKIPPED: Final = "duplicates_skipped"
VALUES_DROPPED_BY_CAP: Final = "values_dropped_by_cap"
DEAD_LETTERED: Final = "dead_lettered"
LAG: Final = "lag"
LAG_UPDATED_US: Final = "lag_updated_us"

COUNTERS: Final = (
    ENVELOPES_APPLIED,
    EVENTS_APPLIED,
    LIST_VALUES_APPENDED,
    DUPLICATES_SKIPPED,
    VALUES_DROPPED_BY_CAP,
    DEAD_LETTERED,
    LAG,
    LAG_UPDATED_US,
)


async def read_stats(client: aioredis.Redis, keys: RedisKeys) -> dict[str, int]:
    """All counters, 0 for those never written."""
    raw = await client.hgetall(keys.stats)
    stats = dict.fromkeys(COUNTERS, 0)
    for field, value in raw.items():
        name = field.decode() if isinstance(field, bytes) else str(field)
        stats[name] = int(value)
    return stats
