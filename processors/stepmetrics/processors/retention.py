"""Retention: delete the executions whose last update is older than a limit.

`RetentionSweeper.sweep` walks `P:idx:updated` (every execution scored by its
`updated_us`, see `stepmetrics.store.keys`) oldest first, in rounds of
`SWEEP_BATCH` executions with a pause between rounds, and deletes each with
`stepmetrics.store.lifecycle.Deleter`: one short script per execution, never
one long script, so Redis serves everything else between them. The script
checks `updated_us` itself (`older_than_us`), so an execution written after
the index entry was read is left alone ("fresh"). Several workers may sweep at
once: a second delete of one execution finds its tombstone and counts nothing.
Deletions count in `executions_expired`.

`backfill` adds to `P:idx:updated` the executions written before it existed
(from `P:idx:executions` and each one's meta, `ZADD NX`, in rounds). It runs
once per sweeper and only when that index holds fewer members than
`P:idx:executions`. An index entry whose execution is gone is added with score
0, so the next sweep removes it from the indexes.

This is a plain class; the Faust app only calls it from a timer.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Final, cast

from stepmetrics.store.index import walk
from stepmetrics.store.lifecycle import Deleter
from stepmetrics.store.stats import EXECUTIONS_EXPIRED

logger = logging.getLogger(__name__)

SWEEP_BATCH: Final = 100
SWEEP_PAUSE: Final = 0.05  # seconds between rounds
US_PER_DAY: Final = 86_400 * 1_000_000


class RetentionSweeper:
    """Deletes executions not updated for `retention_days`.

    Args:
        deleter: the deleter of the worker's Redis and key prefix.
        retention_days: how long an execution is kept after its last update
            (fractions allowed).
        batch: executions per round.
        pause: seconds between rounds.
        clock: the time in µs (tests pass their own).
    """

    def __init__(
        self,
        deleter: Deleter,
        retention_days: float,
        *,
        batch: int = SWEEP_BATCH,
        pause: float = SWEEP_PAUSE,
        clock: Callable[[], int] = lambda: time.time_ns() // 1000,
    ) -> None:
        if not retention_days > 0 or batch < 1 or pause < 0:
            raise ValueError(
                f"retention_days must be > 0, batch >= 1, pause >= 0; "
                f"got {retention_days}, {batch}, {pause}"
            )
        self._deleter = deleter
        self._retention_us = int(retention_days * US_PER_DAY)
        self._batch = batch
        self._pause = pause
        self._clock = clock
        self._backfilled = False
        self.rounds = 0  # rounds of the last sweep (for logs and tests)

    async def run_once(self) -> int:
        """Backfill (the first time), then sweep; the executions deleted."""
        if not self._backfilled:
            added = await self.backfill()
            self._backfilled = True
            if added:
                logger.info("retention: indexed %s executions by last update", added)
        deleted = await self.sweep()
        if deleted:
            logger.info("retention: deleted %s executions in %s rounds", deleted, self.rounds)
        return deleted

    async def sweep(self) -> int:
        """Delete every execution last updated before now - retention; the count."""
        cutoff = self._clock() - self._retention_us
        client, key = self._deleter.client, self._deleter.keys.updated
        deleted = kept = self.rounds = 0
        while True:
            # Deleted entries leave the index; those still there ("fresh": the
            # index lagged a write) are skipped by offset.
            members = await client.zrangebyscore(
                key, "-inf", f"({cutoff}", start=kept, num=self._batch
            )
            self.rounds += 1
            for member in members:
                eid = member.decode() if isinstance(member, bytes) else str(member)
                reply = await self._deleter.delete(eid, cutoff, counter=EXECUTIONS_EXPIRED)
                deleted += reply.status == "deleted"
                kept += reply.status == "fresh"
            if len(members) < self._batch:
                return deleted
            await asyncio.sleep(self._pause)

    async def backfill(self) -> int:
        """Index by last update the executions missing from `P:idx:updated`."""
        client, keys = self._deleter.client, self._deleter.keys
        if await client.zcard(keys.updated) >= await client.zcard(keys.executions):
            return 0
        added = 0
        async for batch in walk(client, keys.executions, None, inclusive=True, reverse=False):
            pipe = client.pipeline(transaction=False)
            for _, eid in batch:
                pipe.hget(keys.meta(eid), "updated_us")
            updated = await pipe.execute()
            scores = {eid: int(u) if u else 0 for (_, eid), u in zip(batch, updated, strict=True)}
            added += cast(int, await client.zadd(keys.updated, scores, nx=True))
            await asyncio.sleep(self._pause)
        return added
