"""Make sure the worker's topics exist with an explicit partition count.

Relying on broker auto-creation gives whatever default the broker has (4 on
the local broker) the first time anyone touches the name. The worker creates
the metrics topic and its dead-letter topic itself when missing, with
`STEPMETRICS_TOPIC_PARTITIONS` partitions, and leaves existing topics alone.
"""

from __future__ import annotations

import logging

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError, for_code

from stepmetrics.processors.errors import TopicSetupError
from stepmetrics.processors.settings import ProcessorSettings

logger = logging.getLogger(__name__)


async def ensure_topics(settings: ProcessorSettings) -> dict[str, int]:
    """Create missing topics; return each topic's partition count.

    Raises:
        TopicSetupError: the broker could not be reached or refused.
    """
    wanted = [settings.topic, settings.deadletter_topic]
    admin = AIOKafkaAdminClient(
        bootstrap_servers=settings.kafka_bootstrap, request_timeout_ms=15_000
    )
    try:
        await admin.start()
        existing = set(await admin.list_topics())
        missing = [name for name in wanted if name not in existing]
        if missing:
            await _create(admin, missing, settings.topic_partitions)
        described = await admin.describe_topics(wanted)
    except KafkaError as exc:
        raise TopicSetupError(
            f"could not set up topics {wanted} on {settings.kafka_bootstrap}: {exc!r}"
        ) from exc
    finally:
        await admin.close()
    counts = {d["topic"]: len(d["partitions"]) for d in described}
    logger.info("topics ready: %s", counts)
    return counts


async def _create(admin: AIOKafkaAdminClient, names: list[str], partitions: int) -> None:
    # aiokafka reports per-topic failures in the response, it does not raise them.
    response = await admin.create_topics([NewTopic(name, partitions, 1) for name in names])
    for topic, code, *message in response.topic_errors:
        error = for_code(code)
        if code and error is not TopicAlreadyExistsError:  # another worker won the race: fine
            raise TopicSetupError(
                f"Kafka refused to create topic {topic!r}: {error.__name__} {message}"
            )
    logger.info("created topics %s with %s partitions", names, partitions)
