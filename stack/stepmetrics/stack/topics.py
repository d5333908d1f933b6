"""Create the metrics topics with an explicit partition count.

Auto-created topics get the broker's default partition count (4 on Tansu),
and faust refuses a source topic whose partition count differs from its table
changelog's, so `up` creates both topics itself before the worker starts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from stepmetrics.processors.errors import TopicSetupError
from stepmetrics.processors.topics import create_missing
from stepmetrics.stack.errors import StackError


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
    except (KafkaError, TopicSetupError, OSError, TimeoutError) as exc:
        raise StackError(
            f"cannot create topics {list(names)} on Kafka at {bootstrap}: "
            f"{type(exc).__name__}: {exc}"
        ) from exc


async def _ensure(bootstrap: str, names: Sequence[str], partitions: int, seconds: float) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=int(seconds * 1000))
    try:
        async with asyncio.timeout(seconds):
            await admin.start()
            await create_missing(admin, names, partitions)
    finally:
        await admin.close()
