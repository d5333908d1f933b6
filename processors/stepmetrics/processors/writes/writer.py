"""The write model: apply envelopes to Redis with exactly-once effect.

`MetricsWriter.apply` sends a whole batch in ONE round trip: a non-transactional
pipeline of one `EVALSHA` per execution (atomic, one hash tag each, deduplicated
by envelope identity) followed by the index writes. Index writes are
`ZADD ... LT`: they add new members and only ever lower a score, so replays
change nothing and the final score is the execution's `created_us`.

The counters in `P:stats` live in another cluster slot than any execution, so
the scripts only return what they counted and a second, small pipeline adds it.
If that fails, the data is safe and only that batch's counts are missing
(logged); a replay then counts its envelopes as duplicates.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import astuple, dataclass
from typing import Any

import redis.asyncio as aioredis
from redis import exceptions as redis_errors

from stepmetrics.processors.writes.reduce import ExecutionPlan, plan_batch
from stepmetrics.processors.writes.scripts import APPLY_LUA, APPLY_SHA
from stepmetrics.producers.events import MAX_LIST_VALUES, Envelope
from stepmetrics.store import stats
from stepmetrics.store.errors import StoreError, StoreUnavailableError
from stepmetrics.store.keys import RedisKeys

logger = logging.getLogger(__name__)

# Redis answers these while it cannot write *yet*; retrying later can succeed.
_RETRIABLE_REPLIES = ("OOM", "BUSY", "LOADING", "READONLY", "MASTERDOWN", "TRYAGAIN")


class StoreWriteError(StoreError):
    """Redis rejected a write for a reason a retry will not fix."""


@dataclass(frozen=True, slots=True)
class ApplyResult:
    """What one `apply` call changed (duplicates are envelopes skipped whole)."""

    envelopes_applied: int = 0
    duplicates_skipped: int = 0
    events_applied: int = 0
    list_values_appended: int = 0
    values_dropped_by_cap: int = 0

    def __add__(self, other: ApplyResult) -> ApplyResult:
        return ApplyResult(*(a + b for a, b in zip(astuple(self), astuple(other), strict=True)))


class MetricsWriter:
    """Applies decoded envelopes to Redis; safe to call again with the same batch.

    Args:
        client: an asyncio Redis client (the caller owns and closes it).
        keys: the key layout (prefix).
        list_cap: values kept per (execution, list name).
        created_cache_size: executions whose `created_us` is remembered to
            score index writes right in the first round trip.
    """

    def __init__(
        self,
        client: aioredis.Redis,
        keys: RedisKeys,
        *,
        list_cap: int = MAX_LIST_VALUES,
        created_cache_size: int = 100_000,
    ) -> None:
        self._client = client
        self._keys = keys
        self._cap = list_cap
        self._created: dict[str, int] = {}
        self._cache_size = created_cache_size

    async def apply(self, envelopes: Sequence[Envelope]) -> ApplyResult:
        """Apply `envelopes` (any executions, any order) in one round trip.

        Args:
            envelopes: decoded envelopes; already applied ones are skipped whole.

        Raises:
            StoreUnavailableError: Redis cannot be reached or cannot write yet
                (retriable: nothing is lost by calling again).
            StoreWriteError: Redis rejected the write for good.
        """
        plans = plan_batch(self._keys, envelopes, self._cap)
        scores = {p.execution_id: self._score_guess(p) for p in plans}
        replies = await self._run(plans, scores) if plans else []
        if replies is None:  # the script cache was empty (Redis restarted)
            await self._load_script()
            replies = await self._run(plans, scores)
            if replies is None:
                raise StoreUnavailableError("Redis lost the apply script again right after loading")
        await self._fix_scores(plans, scores, replies)
        result = _sum_replies(replies)
        await self._count(result)
        return result

    async def count_dead_lettered(self, messages: int) -> None:
        """Add `messages` sent to the dead-letter topic to the `dead_lettered` counter."""
        try:
            await self._client.hincrby(self._keys.stats, stats.DEAD_LETTERED, messages)
        except redis_errors.RedisError as exc:
            raise _wrap(exc) from exc

    async def set_lag(self, lag: int, now_us: int) -> None:
        """Record the consumer lag (messages not yet applied) in `P:stats`."""
        try:
            await self._client.hset(
                self._keys.stats, mapping={stats.LAG: lag, stats.LAG_UPDATED_US: now_us}
            )
        except redis_errors.RedisError as exc:
            raise _wrap(exc) from exc

    def _score_guess(self, plan: ExecutionPlan) -> int:
        # An upper bound of created_us; _fix_scores lowers it when Redis knows better.
        return min(self._created.get(plan.execution_id, plan.min_ts), plan.min_ts)

    async def _run(self, plans: list[ExecutionPlan], scores: dict[str, int]) -> list[Any] | None:
        pipe = self._client.pipeline(transaction=False)
        for plan in plans:
            pipe.evalsha(APPLY_SHA, len(plan.keys), *plan.keys, *plan.args)
        for plan in plans:
            self._add_index_writes(pipe, plan, scores[plan.execution_id])
        try:
            results = await pipe.execute(raise_on_error=False)
        except redis_errors.RedisError as exc:
            raise _wrap(exc) from exc
        replies = results[: len(plans)]
        if any(isinstance(r, redis_errors.NoScriptError) for r in replies):
            return None
        errors = [r for r in results if isinstance(r, Exception)]
        if errors:
            # The other executions' scripts did apply: count them now, or a
            # retry would count their envelopes as duplicates.
            await self._count(_sum_replies([r for r in replies if not isinstance(r, Exception)]))
            raise _wrap(errors[0]) from errors[0]
        return list(replies)

    async def _count(self, result: ApplyResult) -> None:
        counts = {
            stats.ENVELOPES_APPLIED: result.envelopes_applied,
            stats.DUPLICATES_SKIPPED: result.duplicates_skipped,
            stats.EVENTS_APPLIED: result.events_applied,
            stats.LIST_VALUES_APPENDED: result.list_values_appended,
            stats.VALUES_DROPPED_BY_CAP: result.values_dropped_by_cap,
        }
        pipe = self._client.pipeline(transaction=False)
        for name, count in counts.items():
            if count:
                pipe.hincrby(self._keys.stats, name, count)
        try:
            await pipe.execute()
        except redis_errors.RedisError as exc:
            # The batch is written; only its counts are lost. Retrying the
            # batch would count its envelopes as duplicates instead.
            logger.warning("stepmetrics: could not add %s to the counters: %s", counts, exc)

    def _add_index_writes(self, pipe: Any, plan: ExecutionPlan, score: int) -> None:
        keys, member = self._keys, {plan.execution_id: score}
        index_keys = [keys.executions]
        index_keys += [keys.pipeline_index(p) for p in sorted(plan.pipelines)]
        index_keys += [keys.deployment_index(d) for d in sorted(plan.deployments)]
        index_keys += [keys.scalar_name_index(n) for n in sorted(plan.scalar_names)]
        index_keys += [keys.list_name_index(n) for n in plan.list_names]
        for key in index_keys:
            pipe.zadd(key, member, lt=True)

    async def _fix_scores(
        self, plans: list[ExecutionPlan], scores: dict[str, int], replies: list[Any]
    ) -> None:
        late = []
        for plan, reply in zip(plans, replies, strict=True):
            created = int(reply[5]) if reply[5] else scores[plan.execution_id]
            if reply[8]:  # created_us went down: rescore every index entry
                _add_stored_names(plan, reply)
                late.append((plan, created))
            elif created < scores[plan.execution_id]:
                late.append((plan, created))
            if len(self._created) >= self._cache_size:
                self._created.clear()
            self._created[plan.execution_id] = created
        if not late:
            return
        pipe = self._client.pipeline(transaction=False)
        for plan, created in late:
            self._add_index_writes(pipe, plan, created)
        try:
            await pipe.execute()
        except redis_errors.RedisError as exc:
            raise _wrap(exc) from exc

    async def _load_script(self) -> None:
        try:
            await self._client.script_load(APPLY_LUA)
        except redis_errors.RedisError as exc:
            raise _wrap(exc) from exc


def _add_stored_names(plan: ExecutionPlan, reply: list[Any]) -> None:
    """Add the names the script read back from Redis to the plan's index writes."""
    plan.scalar_names.update(name.decode() for name in reply[6])
    plan.list_names = sorted({*plan.list_names, *(name.decode() for name in reply[7])})
    pipeline_name, deployment_name = reply[8]
    if pipeline_name:
        plan.pipelines.add(pipeline_name.decode())
    if deployment_name:
        plan.deployments.add(deployment_name.decode())


def _sum_replies(replies: list[Any]) -> ApplyResult:
    totals = [0, 0, 0, 0, 0]
    for reply in replies:
        for i in range(5):
            totals[i] += int(reply[i])
    return ApplyResult(*totals)


def _wrap(exc: Exception) -> StoreError:
    if isinstance(exc, redis_errors.ConnectionError | redis_errors.TimeoutError):
        return StoreUnavailableError(f"Redis unavailable: {exc}")
    if isinstance(exc, redis_errors.ResponseError) and str(exc).startswith(_RETRIABLE_REPLIES):
        return StoreUnavailableError(f"Redis cannot write yet: {exc}")
    return StoreWriteError(f"Redis rejected the write: {exc}")
