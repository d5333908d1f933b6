"""Create the metrics topics with an explicit partition count.

Auto-created topics get the broker's default partition count (4 on Tansu),
and faust refuses a source topic whose partition count differs from its table
changelog's, so `up` creates both topics itself before the worker starts.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError, for_code

from stepmetrics.stack.errors import StackError

logger = logging.getLogger(__name__)


def ensure_topics(
    bootstrap: str, names: Sequence[str], partitions: int, *, timeout: float = 15.0
) -> None:
    """Create each topic of `names` that does not exist yet (blocking).

    A topic that already exists is kept as it is (Kafka cannot shrink it);
    a different partition count is logged as a warning.

    Raises:
        StackError: the broker cannot be reached within `timeout` seconds or
            refuses a topic.
    """
    try:
        asyncio.run(_ensure(bootstrap, names, partitions, timeout))
    except (KafkaError, OSError, TimeoutError) as exc:
        raise StackError(
            f"cannot create topics {list(names)} on Kafka at {bootstrap}: "
            f"{type(exc).__name__}: {exc}"
        ) from exc


async def _ensure(bootstrap: str, names: Sequence[str], partitions: int, seconds: float) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=int(seconds * 1000))
    try:
        async with asyncio.timeout(seconds):
            await admin.start()
            await _create(admin, names, partitions)
    finally:
        await admin.close()


async def _create(admin: AIOKafkaAdminClient, names: Sequence[str], partitions: int) -> None:
    existing = {t["topic"]: len(t["partitions"]) for t in await admin.describe_topics()}
    for name in names:
        if name in existing and existing[name] != partitions:
            logger.warning(
                "topic %s exists with %s partitions, not the %s configured; keeping it",
                name,
                existing[name],
                partitions,
            )
    wanted = [NewTopic(n, partitions, 1) for n in names if n not in existing]
    if not wanted:
        return
    response = await admin.create_topics(wanted)
    for topic, code, *message in response.topic_errors:
        error = for_code(code)
        if code and error is not TopicAlreadyExistsError:  # a concurrent creator is fine
            raise StackError(f"Kafka refused to create topic {topic!r}: {error.__name__} {message}")
    logger.info("created topics %s with %s partitions", [t.name for t in wanted], partitions)
