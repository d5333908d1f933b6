"""The write model: apply envelopes to Redis with exactly-once effect.

`MetricsWriter.write` sends a whole batch in one pipeline: one call of the
apply script per execution and (pipeline, deployment) (atomic, one hash tag
each, deduplicated per producer by a seq high-water mark and window, see
docs/worker.md); a second pipeline then writes the indexes of what the scripts
applied: not the names a per-execution limit dropped, not the pipeline or
deployment of a refused call, each scored with the `created_us` the script
returned. redis-py checks `SCRIPT EXISTS` before the pipeline (and loads the
script if Redis lost it); if Redis loses it between that check and the
pipeline, the batch fails as retriable and the retry reloads it. Index writes
are `ZADD ... LT`: they add new members and only ever lower a score, so replays
change nothing and the final score is the execution's `created_us`; the index
by last update (`P:idx:updated`, for retention) is written with `ZADD ... GT`
from the `updated_us` the script returned. An execution the script found
deleted (tombstoned) returns no `created_us` and gets no index write. Index
writes this worker already sent for the same incarnation and `created_us` of an
execution are skipped, and `P:idx:updated` is only written when it moves
(`stepmetrics.processors.writes.indexcache`, which says when an entry is
trusted); a failed index pipeline drops its executions' entries. (A replayed
batch whose index writes were lost re-sends them: a replay is skipped by the
script but still indexes its envelopes' names, so a name a limit dropped can
then gain an index entry; readers skip an execution that lacks the name.)

The script refuses an envelope for a bound (too many producers, seq too large:
alone; pipeline/deployment disagreeing with the execution's: the whole call);
`write` returns each refused envelope with its reason for the dead-letter topic.

On Redis Cluster the pipeline is a cluster pipeline (one per node, sent in
parallel) and the writer checks and loads the script on every primary itself
(see `_queue_applies`).

The counters in `P:stats` live in another cluster slot than any execution, so
the scripts only return what they counted and a second, small pipeline adds it.
If that fails, the data is safe and only that batch's counts are missing
(logged); a replay then counts its envelopes as duplicates.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Final

from redis import exceptions as redis_errors
from redis.asyncio.client import Pipeline
from redis.asyncio.cluster import ClusterPipeline

from stepmetrics.processors.errors import (
    ProcessorError,
    RedisUnavailableError,
    WriteRejectedError,
)
from stepmetrics.processors.writes.indexcache import IndexCache, Written
from stepmetrics.processors.writes.limits import WriteLimits
from stepmetrics.processors.writes.reduce import ExecutionPlan, plan_batch
from stepmetrics.processors.writes.scripts import APPLY_LUA, ApplyReply, register_apply
from stepmetrics.producers.events import Envelope
from stepmetrics.producers.excerpt import excerpt
from stepmetrics.store import stats
from stepmetrics.store.connection import RedisClient
from stepmetrics.store.keys import RedisKeys
from stepmetrics.store.stats import ApplyCounts

logger = logging.getLogger(__name__)

# Least privilege: the Redis ACL commands the worker needs (its user also gets
# `~<prefix>:*`, no channels): the script calls, the index and counter writes,
# and every command `apply.lua` and `dedup.lua` call (ACLs apply inside scripts too).
WRITER_ACL_COMMANDS: Final = (
    "-@all",
    "+evalsha", "+script|load", "+script|exists", "+zadd", "+hincrby", "+hset",
    "+append", "+hexists", "+hget", "+hkeys", "+hlen", "+hmget", "+hsetnx", "+strlen",
    "+time", "+type",
    # The one-time migration of an old `applied` set into `P:{E}:seq` (dedup.lua).
    "+smembers", "+del",
    # Retention (stepmetrics.store.lifecycle): delete.lua, the index walk and cleanup.
    "+exists", "+hgetall", "+unlink", "+expire", "+zrem", "+zrangebyscore", "+zcard",
)  # fmt: skip
# The cluster client raises RedisClusterException (no RedisError) when no node answers.
_FAILURES = (redis_errors.RedisError, redis_errors.RedisClusterException)
# Redis answers these while it cannot write *yet*; retrying later can succeed.
_RETRIABLE_REPLIES = ("OOM", "BUSY", "LOADING", "READONLY", "MASTERDOWN", "TRYAGAIN")


@dataclass(frozen=True, slots=True)
class Refusal:
    """An envelope the script refused (nothing of it applied) and why."""

    envelope: Envelope
    reason: str


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What `MetricsWriter.write` applied and which envelopes it refused."""

    counts: ApplyCounts
    refused: tuple[Refusal, ...] = ()


class MetricsWriter:
    """Applies decoded envelopes to Redis; safe to call again with the same batch.

    Args:
        client: an asyncio Redis client (the caller owns and closes it).
        keys: the key layout (prefix).
        limits: the per-execution limits (`WriteLimits`).
        index_cache: what index entries this writer already wrote (`IndexCache`,
            default sizes); `IndexCache(max_executions=0)` sends every write.
    """

    def __init__(
        self,
        client: RedisClient,
        keys: RedisKeys,
        *,
        limits: WriteLimits | None = None,
        index_cache: IndexCache | None = None,
    ) -> None:
        self._client = client
        self._keys = keys
        self._limits = WriteLimits() if limits is None else limits
        self._script = register_apply(client)
        self.index_cache = IndexCache() if index_cache is None else index_cache
        self.index_writes = 0  # index ZADDs sent, over all batches

    async def apply(self, envelopes: Sequence[Envelope]) -> ApplyCounts:
        """Apply `envelopes`; see `write` (this returns its counts only)."""
        return (await self.write(envelopes)).counts

    async def write(self, envelopes: Sequence[Envelope]) -> WriteResult:
        """Apply `envelopes` (any executions, any order): the scripts in one
        pipeline, then the index writes of what they applied in a second.

        Args:
            envelopes: decoded envelopes; already applied ones are skipped whole;
                those a bound refuses (too many producers in the execution, seq
                too large, pipeline or deployment disagreeing with their
                execution's) are returned with the reason, for the dead-letter topic.

        Raises:
            RedisUnavailableError: Redis cannot be reached or cannot write yet
                (retriable: nothing is lost by calling again).
            WriteRejectedError: Redis rejected the write for good.
        """
        plans = plan_batch(self._keys, envelopes, self._limits)
        if not plans:
            return WriteResult(ApplyCounts())
        pipe = self._client.pipeline(transaction=False)
        await self._queue_applies(pipe, plans)
        with _writing():
            results = await pipe.execute(raise_on_error=False)
        done = [
            (plan, ApplyReply.parse(raw))
            for plan, raw in zip(plans, results, strict=True)
            if not isinstance(raw, Exception)
        ]
        # The index writes and counts of the scripts that did apply come first,
        # or a retry would count their envelopes as duplicates.
        await self._index(done)
        result = _total(reply for _, reply in done)
        await self._count(result)
        errors = [r for r in results if isinstance(r, Exception)]
        if errors:
            raise _wrap(errors[0]) from errors[0]
        refused = [refusal for plan, reply in done for refusal in _refusals(plan, reply)]
        return WriteResult(result, tuple(refused))

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

    async def _index(self, done: list[tuple[ExecutionPlan, ApplyReply]]) -> None:
        """ZADD LT each execution into the indexes of what it now holds, except
        the entries `self.index_cache` knows this worker already wrote."""
        pipe = self._client.pipeline(transaction=False)
        sent: list[tuple[str, Written]] = []
        writes = 0
        for plan, reply in done:
            if reply.created_us is None:  # tombstoned (or nothing applied yet)
                self.index_cache.forget(plan.execution_id)
                continue
            if reply.refused:
                continue
            written = self._queue_index(pipe, plan, reply, reply.created_us)
            writes += len(written.keys) + (written.updated_us is not None)
            sent.append((plan.execution_id, written))
        self.index_writes += writes
        if writes:
            try:
                with _writing():
                    await pipe.execute()
            except ProcessorError:
                for execution_id, _ in sent:  # unknown which landed: rebuild them
                    self.index_cache.forget(execution_id)
                raise
        for execution_id, written in sent:
            self.index_cache.record(execution_id, written)

    def _queue_index(
        self, pipe: Pipeline | ClusterPipeline, plan: ExecutionPlan, reply: ApplyReply, created: int
    ) -> Written:
        cache, eid = self.index_cache, plan.execution_id
        if reply.lowered:  # created_us went down: rescore every index entry
            _add_stored_names(plan, reply)
        entry = cache.lookup(eid, reply.incarnation, created)
        keys = self._index_keys(plan, reply)
        if entry is not None:
            keys = [key for key in keys if key not in entry.keys]
        member = {eid: created}
        for key in keys:
            pipe.zadd(key, member, lt=True)
        updated = reply.updated_us
        if updated is not None and cache.updated_due(entry, updated):
            # by last update, for retention: only forward
            pipe.zadd(self._keys.updated, {eid: updated}, gt=True)
        else:
            updated = None
        return Written(reply.incarnation, created, entry, keys, updated)

    def _index_keys(self, plan: ExecutionPlan, reply: ApplyReply) -> list[str]:
        keys = self._keys
        scalars = plan.scalar_names.difference(reply.dropped_scalar_names)
        dropped_lists = set(reply.dropped_list_names)
        index_keys = [keys.executions]
        index_keys += [keys.pipeline_index(p) for p in sorted(plan.pipelines)]
        index_keys += [keys.deployment_index(d) for d in sorted(plan.deployments)]
        index_keys += [keys.scalar_name_index(n) for n in sorted(scalars)]
        index_keys += [keys.list_name_index(n) for n in plan.list_names if n not in dropped_lists]
        return index_keys


def _refusals(plan: ExecutionPlan, reply: ApplyReply) -> list[Refusal]:
    """The plan's envelopes the script refused: alone (`rejected`) or all (`refused`)."""
    if not reply.refused:
        return [
            Refusal(envelope, reply.rejected[envelope.identity])
            for envelope in plan.envelopes
            if envelope.identity in reply.rejected
        ]
    first = plan.envelopes[0]
    field, stored, says = "pipeline", reply.pipeline_name, first.pipeline_name
    if stored == says:
        field, stored, says = "deployment", reply.deployment_name, first.deployment_name or ""
    reason = (
        f"execution {excerpt(plan.execution_id)} belongs to {field} {excerpt(stored)}; "
        f"this envelope says {excerpt(says)} (fixed by the execution's first applied envelope)"
    )
    return [Refusal(envelope, reason) for envelope in plan.envelopes]


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
