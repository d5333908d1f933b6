"""Make sure the worker's topics exist with an explicit partition count.

Relying on broker auto-creation gives whatever default the broker has (4 on
the local broker) the first time anyone touches the name. The worker creates
the metrics topic and its dead-letter topic itself when missing, with
`STEPMETRICS_TOPIC_PARTITIONS` partitions, and leaves existing topics alone.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError, for_code

from stepmetrics.envvars import redact
from stepmetrics.processors.errors import TopicSetupError
from stepmetrics.processors.settings import ProcessorSettings

logger = logging.getLogger(__name__)


async def create_worker_topics(settings: ProcessorSettings) -> dict[str, int]:
    """Create the worker's metrics and dead-letter topics when missing.

    Raises:
        TopicSetupError: the broker could not be reached or refused.
    """
    names = [settings.topic, settings.deadletter_topic]
    return await create_missing_topics(settings.kafka_bootstrap, names, settings.topic_partitions)


async def create_missing_topics(
    bootstrap: str, names: Sequence[str], partitions: int, *, within: float | None = None
) -> dict[str, int]:
    """Connect to `bootstrap` and create each topic of `names` that is missing;
    return each topic's partition count (see `create_missing`).

    Args:
        within: seconds the whole setup may take; None: each broker request
            may take 15 s.

    Raises:
        TopicSetupError: the broker could not be reached (in time) or refused.
    """
    request_ms = 15_000 if within is None else int(within * 1000)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=request_ms)
    try:
        async with asyncio.timeout(within):
            await admin.start()
            counts = await create_missing(admin, names, partitions)
    except (KafkaError, OSError, TimeoutError) as exc:
        raise TopicSetupError(
            f"could not set up topics {list(names)} on Kafka at {redact(bootstrap)}: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    finally:
        await admin.close()
    logger.info("topics ready: %s", counts)
    return counts


async def create_missing(
    admin: AIOKafkaAdminClient, names: Sequence[str], partitions: int
) -> dict[str, int]:
    """Create each topic of `names` that does not exist, with `partitions`
    partitions; keep existing ones (Kafka cannot shrink a topic), warning when
    their count differs. Return each topic's partition count.

    Raises:
        TopicSetupError: Kafka refused a topic (a concurrent creator is fine).
    """
    existing = {t["topic"]: len(t["partitions"]) for t in await admin.describe_topics()}
    for name in names:
        if name in existing and existing[name] != partitions:
            logger.warning(
                "topic %s exists with %s partitions, not the %s configured; keeping it",
                name,
                existing[name],
                partitions,
            )
    missing = [name for name in names if name not in existing]
    if missing:
        # aiokafka reports per-topic failures in the response, it does not raise them.
        response = await admin.create_topics([NewTopic(n, partitions, 1) for n in missing])
        for topic, code, *message in response.topic_errors:
            error = for_code(code)
            if code and error is not TopicAlreadyExistsError:
                raise TopicSetupError(
                    f"Kafka refused to create topic {topic!r}: {error.__name__} {message}"
                )
        logger.info("created topics %s with %s partitions", missing, partitions)
    return {name: existing.get(name, partitions) for name in names}
