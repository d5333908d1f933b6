"""The write model: apply envelopes to Redis with exactly-once effect.

`MetricsWriter.apply` sends a whole batch in one pipeline: one call of the
apply script per execution (atomic, one hash tag each, deduplicated per
producer by a seq high-water mark and window, see docs/worker.md) followed by
the index writes. redis-py checks `SCRIPT EXISTS` before the pipeline (and
loads the script if Redis lost it); if Redis loses it between that check and
the pipeline, the batch fails as retriable and the retry reloads it. On Redis
Cluster the pipeline is a cluster pipeline (one per node, sent in parallel)
and the writer checks and loads the script on every primary itself (see
`_queue_applies`). Index writes are `ZADD ... LT`: they add new members and
only ever lower a score, so replays change nothing and the final score is the
execution's `created_us`.

The counters in `P:stats` live in another cluster slot than any execution, so
the scripts only return what they counted and a second, small pipeline adds it.
If that fails, the data is safe and only that batch's counts are missing
(logged); a replay then counts its envelopes as duplicates.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Final

from redis import exceptions as redis_errors
from redis.asyncio.client import Pipeline
from redis.asyncio.cluster import ClusterPipeline

from stepmetrics.processors.errors import (
    ProcessorError,
    RedisUnavailableError,
    WriteRejectedError,
)
from stepmetrics.processors.writes.reduce import DEFAULT_MAX_PRODUCERS, ExecutionPlan, plan_batch
from stepmetrics.processors.writes.scripts import APPLY_LUA, ApplyReply, register_apply
from stepmetrics.producers.events import MAX_LIST_VALUES, Envelope
from stepmetrics.store import stats
from stepmetrics.store.connection import RedisClient
from stepmetrics.store.keys import RedisKeys
from stepmetrics.store.stats import ApplyCounts

logger = logging.getLogger(__name__)

# Least privilege: the Redis ACL commands the worker needs (its user also gets
# `~<prefix>:*`, no channels): the script calls, the index and counter writes,
# and every command `apply.lua` calls (ACLs apply inside scripts too).
WRITER_ACL_COMMANDS: Final = (
    "-@all",
    "+evalsha", "+script|load", "+script|exists", "+zadd", "+hincrby", "+hset",
    "+append", "+hexists", "+hget", "+hkeys", "+hlen", "+hmget", "+hsetnx", "+strlen",
    "+time", "+type",
    # The one-time migration of an old `applied` set into `P:{E}:seq` (dedup.lua).
    "+smembers", "+del",
)  # fmt: skip
# The cluster client raises RedisClusterException (no RedisError) when no node answers.
_FAILURES = (redis_errors.RedisError, redis_errors.RedisClusterException)
# Redis answers these while it cannot write *yet*; retrying later can succeed.
_RETRIABLE_REPLIES = ("OOM", "BUSY", "LOADING", "READONLY", "MASTERDOWN", "TRYAGAIN")


@dataclass(frozen=True, slots=True)
class ApplyOutcome:
    """What `MetricsWriter.apply_envelopes` did.

    Attributes:
        counts: what was applied, skipped and refused.
        rejected: (execution id, identity) -> reason, for each envelope the
            script refused (for good: the caller dead-letters it).
    """

    counts: ApplyCounts
    rejected: dict[tuple[str, str], str] = field(default_factory=dict)


class MetricsWriter:
    """Applies decoded envelopes to Redis; safe to call again with the same batch.

    Args:
        client: an asyncio Redis client (the caller owns and closes it).
        keys: the key layout (prefix).
        list_cap: values kept per (execution, list name).
        created_cache_size: executions whose `created_us` is remembered to
            score index writes right in the first round trip.
        max_producers: producers whose envelopes one execution accepts.
    """

    def __init__(
        self,
        client: RedisClient,
        keys: RedisKeys,
        *,
        list_cap: int = MAX_LIST_VALUES,
        created_cache_size: int = 100_000,
        max_producers: int = DEFAULT_MAX_PRODUCERS,
    ) -> None:
        self._client = client
        self._keys = keys
        self._cap = list_cap
        self._created: dict[str, int] = {}
        self._cache_size = created_cache_size
        self._max_producers = max_producers
        self._script = register_apply(client)

    async def apply(self, envelopes: Sequence[Envelope]) -> ApplyCounts:
        """Apply `envelopes` (any executions, any order) in one pipeline.

        Args:
            envelopes: decoded envelopes; already applied ones are skipped whole.

        Raises:
            RedisUnavailableError: Redis cannot be reached or cannot write yet
                (retriable: nothing is lost by calling again).
            WriteRejectedError: Redis rejected the write for good.
        """
        return (await self.apply_envelopes(envelopes)).counts

    async def apply_envelopes(self, envelopes: Sequence[Envelope]) -> ApplyOutcome:
        """Like `apply`, and also say which envelopes were refused and why."""
        plans = plan_batch(self._keys, envelopes, self._cap, self._max_producers)
        if not plans:
            return ApplyOutcome(ApplyCounts())
        scores = {p.execution_id: self._score_guess(p) for p in plans}
        replies = await self._run(plans, scores)
        await self._fix_scores(plans, scores, replies)
        result = _total(replies)
        await self._count(result)
        rejected = {
            (plan.execution_id, identity): reason
            for plan, reply in zip(plans, replies, strict=True)
            for identity, reason in reply.rejected.items()
        }
        return ApplyOutcome(result, rejected)

    async def count_dead_lettered(self, messages: int) -> None:
        """Add `messages` sent to the dead-letter topic to the `dead_lettered` counter."""
        with _writing():
            await self._client.hincrby(self._keys.stats, stats.DEAD_LETTERED, messages)

    async def set_lag(self, lag: int, now_us: int) -> None:
        """Record the consumer lag (messages not yet applied) in `P:stats`."""
        with _writing():
            await self._client.hset(
                self._keys.stats, mapping={stats.LAG: lag, stats.LAG_UPDATED_US: now_us}
            )

    def _score_guess(self, plan: ExecutionPlan) -> int:
        # An upper bound of created_us; _fix_scores lowers it when Redis knows better.
        return min(self._created.get(plan.execution_id, plan.min_ts), plan.min_ts)

    async def _run(self, plans: list[ExecutionPlan], scores: dict[str, int]) -> list[ApplyReply]:
        pipe = self._client.pipeline(transaction=False)
        await self._queue_applies(pipe, plans)
        for plan in plans:
            self._add_index_writes(pipe, plan, scores[plan.execution_id])
        with _writing():
            results = await pipe.execute(raise_on_error=False)
        raw = results[: len(plans)]
        errors = [r for r in results if isinstance(r, Exception)]
        if errors:
            # The other executions' scripts did apply: count them now, or a
            # retry would count their envelopes as duplicates.
            applied = [ApplyReply.parse(r) for r in raw if not isinstance(r, Exception)]
            await self._count(_total(applied))
            raise _wrap(errors[0]) from errors[0]
        return [ApplyReply.parse(r) for r in raw]

    async def _queue_applies(
        self, pipe: Pipeline | ClusterPipeline, plans: list[ExecutionPlan]
    ) -> None:
        if isinstance(pipe, Pipeline):
            # One server: redis-py checks SCRIPT EXISTS before the pipeline and loads it.
            for plan in plans:
                await self._script(keys=plan.keys, args=plan.args, client=pipe)
            return
        # A cluster pipeline sends EVALSHA as is (redis-py's script object only
        # registers itself with a plain pipeline, and its `evalsha` method is
        # blocked there): do what redis-py does for one server, SCRIPT EXISTS
        # (on every primary) and SCRIPT LOAD where it is missing. The pipeline
        # routes each call by its KEYS (one execution's hash tag) to its
        # slot's node and batches per node.
        with _writing():
            if not all(await self._client.script_exists(self._script.sha)):
                await self._client.script_load(APPLY_LUA)
        for plan in plans:
            pipe.execute_command(
                "EVALSHA", self._script.sha, len(plan.keys), *plan.keys, *plan.args
            )

    async def _count(self, result: ApplyCounts) -> None:
        counts = result.by_counter()
        pipe = self._client.pipeline(transaction=False)
        for name, count in counts.items():
            if count:
                pipe.hincrby(self._keys.stats, name, count)
        try:
            await pipe.execute()
        except _FAILURES as exc:
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
        self, plans: list[ExecutionPlan], scores: dict[str, int], replies: list[ApplyReply]
    ) -> None:
        late = []
        for plan, reply in zip(plans, replies, strict=True):
            guess = scores[plan.execution_id]
            created = guess if reply.created_us is None else reply.created_us
            if reply.lowered:  # created_us went down: rescore every index entry
                _add_stored_names(plan, reply)
                late.append((plan, created))
            elif created < guess:
                late.append((plan, created))
            if len(self._created) >= self._cache_size:
                self._created.clear()
            self._created[plan.execution_id] = created
        if not late:
            return
        pipe = self._client.pipeline(transaction=False)
        for plan, created in late:
            self._add_index_writes(pipe, plan, created)
        with _writing():
            await pipe.execute()


def _add_stored_names(plan: ExecutionPlan, reply: ApplyReply) -> None:
    """Add the names the script read back from Redis to the plan's index writes."""
    plan.scalar_names.update(reply.scalar_names)
    plan.list_names = sorted({*plan.list_names, *reply.list_names})
    if reply.pipeline_name:
        plan.pipelines.add(reply.pipeline_name)
    if reply.deployment_name:
        plan.deployments.add(reply.deployment_name)


def _total(replies: Iterable[ApplyReply]) -> ApplyCounts:
    return sum((reply.counts for reply in replies), ApplyCounts())


@contextmanager
def _writing() -> Iterator[None]:
    """Turn redis-py's errors into the processor's (retriable or not)."""
    try:
        yield
    except _FAILURES as exc:
        raise _wrap(exc) from exc


def _wrap(exc: Exception) -> ProcessorError:
    if isinstance(exc, redis_errors.NoScriptError):
        # Flushed (or restarted) between redis-py's SCRIPT EXISTS and the pipeline.
        return RedisUnavailableError(f"Redis lost the apply script mid-batch: {exc}")
    if isinstance(
        exc,
        redis_errors.ConnectionError
        | redis_errors.TimeoutError
        | redis_errors.RedisClusterException,
    ):
        return RedisUnavailableError(f"Redis unavailable: {exc}")
    if isinstance(exc, redis_errors.ResponseError) and str(exc).startswith(_RETRIABLE_REPLIES):
        return RedisUnavailableError(f"Redis cannot write yet: {exc}")
    return WriteRejectedError(f"Redis rejected the write: {exc}")
