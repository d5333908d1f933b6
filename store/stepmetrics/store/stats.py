"""The worker's counters in `P:stats`, where an operator can read them.

The apply script counts what it applied and skipped, and the writer adds that
here right after the batch (a separate command: these counters live in another
Redis Cluster slot than the executions). They are exact unless that addition
fails after the batch was written (logged); replaying an envelope adds to
`duplicates_skipped` and nothing else. `dead_lettered` is counted by the worker
(a crash between producing the dead letter and committing can count a message
twice), and so is `dead_letters_failed`; `lag` and `lag_updated_us` are
overwritten periodically by the worker.

`ApplyCounts` is the one definition of the counters the apply script counts:
their names (`APPLY_COUNTERS`, the `P:stats` fields), their order (the
script's reply) and how they add up all derive from its fields.
"""

from __future__ import annotations

from dataclasses import astuple, dataclass, fields
from typing import Final

from stepmetrics.store.connection import RedisClient
from stepmetrics.store.keys import RedisKeys


@dataclass(frozen=True, slots=True)
class ApplyCounts:
    """What applying envelopes changed (duplicates are envelopes skipped whole).

    Each field is a `P:stats` counter of the same name; the field order is the
    order in which the apply script returns them.
    """

    envelopes_applied: int = 0
    duplicates_skipped: int = 0
    events_applied: int = 0
    list_values_appended: int = 0
    values_dropped_by_cap: int = 0
    # envelopes refused by a bound (too many producers in the execution, seq too
    # large, pipeline/deployment disagreeing with the execution's): dead-lettered
    envelopes_refused: int = 0
    # events and values of names new to an execution beyond its name limits
    scalar_events_dropped_by_name_cap: int = 0
    list_values_dropped_by_name_cap: int = 0
    # envelopes of a deleted (tombstoned) execution: applied nothing, not dead-lettered
    envelopes_skipped_deleted: int = 0

    def __add__(self, other: ApplyCounts) -> ApplyCounts:
        return ApplyCounts(*(a + b for a, b in zip(astuple(self), astuple(other), strict=True)))

    def by_counter(self) -> dict[str, int]:
        """Counter name -> count, in field order."""
        return dict(zip(APPLY_COUNTERS, astuple(self), strict=True))


APPLY_COUNTERS: Final = tuple(f.name for f in fields(ApplyCounts))
DEAD_LETTERED: Final = "dead_lettered"
LAG: Final = "lag"
LAG_UPDATED_US: Final = "lag_updated_us"
# Messages whose dead letter the broker refused for good (too large, topic
# invalid or not authorized): counted and logged, then skipped.
DEAD_LETTERS_FAILED: Final = "dead_letters_failed"
# Executions deleted on request (the API, `stepmetrics delete`) and by the
# worker's retention (stepmetrics.store.lifecycle); a repeated delete adds nothing.
EXECUTIONS_DELETED: Final = "executions_deleted"
EXECUTIONS_EXPIRED: Final = "executions_expired"

# Compressed record batches the worker's consumer skipped unread (inflating past
# STEPMETRICS_MAX_BATCH_INFLATED_BYTES, or undecodable): each also dead-lettered.
BATCHES_REFUSED: Final = "batches_refused"
COUNTERS: Final = (
    *APPLY_COUNTERS,
    DEAD_LETTERED,
    LAG,
    LAG_UPDATED_US,
    DEAD_LETTERS_FAILED,
    EXECUTIONS_DELETED,
    EXECUTIONS_EXPIRED,
    BATCHES_REFUSED,
)

# Fields of an execution's meta hash (`keys.meta`) the apply script adds to when
# its name limits drop something: the execution detail reports them.
META_DROPPED_SCALAR_EVENTS: Final = "dropped_scalar_events"
META_DROPPED_LIST_VALUES: Final = "dropped_list_values"


async def read_stats(client: RedisClient, keys: RedisKeys) -> dict[str, int]:
    """All counters, 0 for those never written."""
    raw = await client.hgetall(keys.stats)
    stats = dict.fromkeys(COUNTERS, 0)
    for field, value in raw.items():
        name = field.decode() if isinstance(field, bytes) else str(field)
        stats[name] = int(value)
    return stats


async def add_to_counter(client: RedisClient, keys: RedisKeys, counter: str, amount: int) -> None:
    """Add `amount` to one `P:stats` counter (one of `COUNTERS`)."""
    await client.hincrby(keys.stats, counter, amount)
