"""`MetricsReader`: every read-only query of the reader API, over Redis.

Queries follow the layout of `stepmetrics.store.keys` exactly; the ordering
and pagination rules are documented in `stepmetrics.store.page_reads`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Final, cast

from redis.exceptions import RedisClusterException, RedisError

from stepmetrics.store import executions, list_pages, page_reads
from stepmetrics.store.capacity import capacity
from stepmetrics.store.connection import RedisClient
from stepmetrics.store.endpoints import MAX_PAGE_VALUES
from stepmetrics.store.errors import StoreUnavailableError
from stepmetrics.store.index import Filter
from stepmetrics.store.keys import RedisKeys
from stepmetrics.store.name_reads import NameScript
from stepmetrics.store.types import ExecutionDetail, ExecutionSummary, Metric, ScalarColumns
from stepmetrics.store.wire import Cursor

logger = logging.getLogger(__name__)

# Least privilege: the Redis ACL commands the reader API needs (its user also
# gets `~<prefix>:*`, no channels): reads only, PING for /readyz and INFO for
# the memory figure of /api/v1/stats.
READER_ACL_COMMANDS: Final = ("-@all", "+@read", "+ping", "+info")


# redis-py's cluster client raises RedisClusterException (not a RedisError)
# when no node answers or a slot has no node.
_FAILURES = (RedisError, RedisClusterException, OSError)


@contextmanager
def _redis_errors() -> Iterator[None]:
    try:
        yield
    except _FAILURES as exc:
        raise StoreUnavailableError(f"Redis query failed: {exc}") from exc


class MetricsReader:
    """Read-only queries. Each raises `StoreUnavailableError` (retriable) when
    Redis cannot be reached.

    Args:
        redis: a client created with `decode_responses=False` (list values
            are binary).
        keys: the key builder of the deployment's prefix.
    """

    def __init__(self, redis: RedisClient, keys: RedisKeys) -> None:
        self._redis = redis
        self._keys = keys
        self._name_script = NameScript(redis)

    async def ping(self) -> bool:
        """True when Redis answers."""
        try:
            return bool(await self._redis.ping())
        except _FAILURES as exc:
            logger.warning("readiness: Redis does not answer: %s", exc)
            return False

    async def version(self, execution_id: str) -> bytes | None:
        """The execution's data version (`meta` field `version`), as stored;
        None if unknown or written before versions existed."""
        with _redis_errors():
            return cast(
                "bytes | None", await self._redis.hget(self._keys.meta(execution_id), "version")
            )

    async def scalar_metrics(
        self, flt: Filter | None, limit: int, cursor: Cursor | None = None
    ) -> tuple[list[Metric], Cursor | None]:
        """One page of scalar metrics matching `flt` (None: all) after `cursor`."""
        with _redis_errors():
            return await page_reads.scalar_page(
                self._redis, self._keys, flt, limit, cursor, self._name_script
            )

    async def scalar_columns(
        self, flt: Filter | None, limit: int, cursor: Cursor | None = None
    ) -> tuple[list[ScalarColumns], Cursor | None]:
        """The page of `scalar_metrics` as one group of columns per execution."""
        with _redis_errors():
            groups, next_cursor = await page_reads.scalar_groups(
                self._redis, self._keys, flt, limit, cursor, self._name_script
            )
        return [page_reads.scalar_columns(group) for group in groups], next_cursor

    async def list_metrics(
        self,
        flt: Filter | None,
        limit: int,
        cursor: Cursor | None = None,
        max_values: int = MAX_PAGE_VALUES,
    ) -> tuple[list[Metric], Cursor | None]:
        """One page of list metrics: at most `limit` lists and, unless a single
        list is larger, at most `max_values` values."""
        with _redis_errors():
            return await list_pages.list_page(
                self._redis, self._keys, flt, limit, cursor, max_values, self._name_script
            )

    async def executions(
        self,
        pipeline_name: str | None,
        deployment_name: str | None,
        limit: int,
        cursor: Cursor | None = None,
    ) -> tuple[list[ExecutionSummary], Cursor | None]:
        """One page of executions, newest first, matching both filters."""
        with _redis_errors():
            return await executions.execution_page(
                self._redis, self._keys, pipeline_name, deployment_name, limit, cursor
            )

    async def execution(self, execution_id: str) -> ExecutionDetail | None:
        """One execution with its scalars and list outlines; None if unknown."""
        with _redis_errors():
            return await executions.execution_detail(self._redis, self._keys, execution_id)

    async def list_metric(self, execution_id: str, name: str) -> Metric | None:
        """One list metric of one execution with its values; None if unknown."""
        with _redis_errors():
            return await executions.list_metric(self._redis, self._keys, execution_id, name)

    async def packed_list_values(self, execution_id: str, name: str) -> bytes | None:
        """One list's values as stored (packed little-endian float64); None if unknown.

        For clients that read binary (the web interface's charts): no decoding here.
        """
        with _redis_errors():
            pipe = self._redis.pipeline(transaction=False)
            pipe.hexists(self._keys.list_created(execution_id), name)
            pipe.get(self._keys.list_values(execution_id, name))
            known, blob = await pipe.execute()
        return bytes(blob or b"") if known else None

    async def stats(self) -> dict[str, Any]:
        """The worker counters (`keys.stats`), as integers where they parse,
        and the capacity figures (`stepmetrics.store.capacity`)."""
        with _redis_errors():
            raw = await self._redis.hgetall(self._keys.stats)
            figures = await capacity(self._redis, self._keys)
        counters = cast("dict[bytes, bytes]", raw)
        return {
            **{k.decode(): _number(v.decode()) for k, v in sorted(counters.items())},
            **figures,
        }


def _number(text: str) -> int | str:
    try:
        return int(text)
    except ValueError:
        return text
