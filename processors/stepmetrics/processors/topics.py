"""Make sure the worker's topics exist with an explicit partition count.

Relying on broker auto-creation gives whatever default the broker has (4 on
the local broker) the first time anyone touches the name. The worker creates
the metrics topic and its dead-letter topic itself when missing, with
`STEPMETRICS_TOPIC_PARTITIONS` partitions, and leaves existing topics alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import Sequence
from typing import Final

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError, for_code

from stepmetrics.envvars import redact
from stepmetrics.processors.errors import TopicSetupError
from stepmetrics.processors.settings import ProcessorSettings
from stepmetrics.producers.security import (
    SASL_PASSWORD,
    SASL_USERNAME,
    SSL_CAFILE,
    SSL_CERTFILE,
    SSL_KEYFILE,
    KafkaSecurity,
)

logger = logging.getLogger(__name__)
# How long the TLS diagnosis of a failed bootstrap may take (connect, handshake, alert).
_PROBE_SECONDS: Final = 5.0
_PROBE_READ_SECONDS: Final = 0.5


async def create_worker_topics(settings: ProcessorSettings) -> dict[str, int]:
    """Create the worker's metrics and dead-letter topics when missing.

    Raises:
        TopicSetupError: the broker could not be reached or refused.
    """
    names = [settings.topic, settings.deadletter_topic]
    return await create_missing_topics(
        settings.kafka_bootstrap,
        names,
        settings.topic_partitions,
        security=settings.kafka_security,
    )


async def create_missing_topics(
    bootstrap: str,
    names: Sequence[str],
    partitions: int,
    *,
    within: float | None = None,
    security: KafkaSecurity | None = None,
) -> dict[str, int]:
    """Connect to `bootstrap` and create each topic of `names` that is missing;
    return each topic's partition count (see `create_missing`).

    Args:
        within: seconds the whole setup may take; None: each broker request
            may take 15 s.
        security: TLS and SASL of the connection; None: plaintext.

    Raises:
        TopicSetupError: the broker could not be reached (in time) or refused.
    """
    request_ms = 15_000 if within is None else int(within * 1000)
    security = security or KafkaSecurity()
    auth = security.aiokafka_kwargs()
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=request_ms, **auth)
    try:
        async with asyncio.timeout(within):
            await admin.start()
            counts = await create_missing(admin, names, partitions)
    # KeyError: aiokafka's SCRAM client, on a server-final message without a
    # verifier (how some brokers, Tansu among them, refuse an unknown user).
    except (KafkaError, OSError, TimeoutError, KeyError) as exc:
        why = await tls_failure(bootstrap, security) if security.tls else ""
        if isinstance(exc, KeyError):
            why += (
                " (a SCRAM reply without server signature: unknown user or wrong"
                f" password; see {SASL_USERNAME.name}, {SASL_PASSWORD.name})"
            )
        raise TopicSetupError(
            f"could not set up topics {list(names)} on Kafka at {redact(bootstrap)}: "
            f"{type(exc).__name__}: {exc}{why}"
        ) from exc
    finally:
        await admin.close()
    logger.info("topics ready: %s", counts)
    return counts


async def tls_failure(bootstrap: str, security: KafkaSecurity) -> str:
    """Why TLS with the first bootstrap server fails ("; ..."), or "" if it does not.

    aiokafka only logs the TLS error of a failed bootstrap and raises "Unable
    to bootstrap": this repeats the handshake (and waits briefly for the alert
    a broker sends when it refuses the client certificate) to say why.
    """
    host, _, port = bootstrap.split(",")[0].strip().rpartition(":")
    try:
        async with asyncio.timeout(_PROBE_SECONDS):
            reader, writer = await asyncio.open_connection(
                host, int(port), ssl=security.ssl_context()
            )
            try:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(reader.read(1), _PROBE_READ_SECONDS)
            finally:
                writer.close()
                with contextlib.suppress(OSError, ssl.SSLError):
                    await writer.wait_closed()
    except ssl.SSLError as exc:
        files = ", ".join(v.name for v in (SSL_CAFILE, SSL_CERTFILE, SSL_KEYFILE))
        return f"; TLS with {host}:{port} failed: {exc} (see {files})"
    except (OSError, TimeoutError, ValueError):
        return ""
    return ""


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
