"""Delivery: hand envelopes to an aiokafka producer and settle their outcomes.

`Delivery.send` sends every envelope it is given (oldest first), waits for
the acknowledgements and says which envelopes are settled: acknowledged, or
failed with an error no retry can fix (`is_fatal`; raised by the broker, or
by aiokafka's `send` itself for a message beyond its max request size).
Everything else (a broker
that is down, slow or electing a leader) stays unsettled and is retried by
the sender with the same bytes.

aiokafka is imported lazily, when the first producer is made: importing the
SDK stays light.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from stepmetrics.producers.batcher import Outgoing
from stepmetrics.producers.excerpt import excerpt
from stepmetrics.producers.settings import ProducerSettings

log = logging.getLogger(__name__)

# How long stopping a producer may take before it is abandoned.
STOP_TIMEOUT: Final = 5.0


@dataclass(frozen=True, slots=True)
class Receipt:
    """The outcome of one `send`, in envelopes and metric values.

    Attributes:
        settled: numbers (`Outgoing.number`) of the envelopes acknowledged or given up.
        delivered: metric values acknowledged by the broker.
        failed: metric values given up after a fatal error.
        given_up: numbers of the envelopes given up (a subset of `settled`).
        refusal: the last fatal error, in bounded text ("" when none).
    """

    settled: frozenset[int]
    delivered: int
    failed: int
    given_up: frozenset[int] = frozenset()
    refusal: str = ""


@functools.cache
def fatal_errors() -> tuple[type[BaseException], ...]:
    """The aiokafka errors (and their subclasses) that no retry can fix."""
    from aiokafka import errors  # lazy: keeps `import` of the SDK light

    return (
        errors.MessageSizeTooLargeError,
        errors.RecordListTooLargeError,
        errors.RecordTooLargeError,
        errors.InvalidTopicError,
        errors.TopicAuthorizationFailedError,
        errors.UnsupportedCodecError,
        errors.KafkaConfigurationError,
        errors.InvalidRequiredAcksError,
    )


def is_fatal(error: BaseException) -> bool:
    """Whether `error` gives an envelope up (True) or leaves it to a retry (False)."""
    return isinstance(error, fatal_errors())


def settle(envelopes: Sequence[Outgoing], results: Sequence[object]) -> Receipt:
    """Classify each envelope's result (an exception, or the broker's metadata)."""
    settled: set[int] = set()
    given_up: set[int] = set()
    delivered = failed = 0
    refusal = ""
    for out, result in zip(envelopes, results, strict=True):
        if not isinstance(result, BaseException):
            settled.add(out.number)
            delivered += out.values
        elif is_fatal(result):
            refusal = f"{type(result).__name__}: {excerpt(str(result))}"
            log.error("stepmetrics: %d metric values refused for good: %s", out.values, refusal)
            settled.add(out.number)
            given_up.add(out.number)
            failed += out.values
        else:
            log.warning("stepmetrics: delivery failed (%r); will retry", result)
    return Receipt(frozenset(settled), delivered, failed, frozenset(given_up), refusal)


class Delivery:
    """Sends envelopes through one aiokafka producer, made on first use.

    `stop()` drops the producer (a later `send` makes a new one: that is how
    the sender reconnects) and never blocks longer than `STOP_TIMEOUT`.
    """

    def __init__(self, settings: ProducerSettings) -> None:
        self._settings = settings
        self._producer: Any = None

    async def send(self, envelopes: Sequence[Outgoing]) -> Receipt:
        """Send `envelopes` in order and wait for the outcome of each one sent."""
        sent: list[Outgoing] = []
        futures: list[asyncio.Future[Any]] = []
        try:
            producer = await self._ensure_producer()
            for out in envelopes:
                futures.append(await _produce(producer, self._settings.topic, out))
                sent.append(out)
        except Exception as exc:  # noqa: BLE001 - any failure here is retried
            log.warning("stepmetrics: sending failed (%r); will retry", exc)
        results = await asyncio.gather(*futures, return_exceptions=True)
        return settle(sent, results)

    async def stop(self) -> None:
        """Stop the producer, if there is one."""
        producer, self._producer = self._producer, None
        if producer is None:
            return
        try:
            await asyncio.wait_for(producer.stop(), STOP_TIMEOUT)
        except Exception as exc:  # noqa: BLE001 - a stuck broker must not block exit
            log.warning("stepmetrics: stopping the Kafka producer failed: %r", exc)

    async def _ensure_producer(self) -> Any:
        if self._producer is None:
            producer = new_producer(self._settings)
            try:
                await producer.start()
            except BaseException:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(producer.stop(), STOP_TIMEOUT)
                raise
            self._producer = producer
        return self._producer


async def _produce(producer: Any, topic: str, out: Outgoing) -> asyncio.Future[Any]:
    """`producer.send`, with a fatal error it raises (an envelope beyond the
    producer's max request size) as that envelope's outcome, not a retry."""
    try:
        return await producer.send(topic, out.data, key=out.key)  # type: ignore[no-any-return]
    except Exception as exc:
        if not is_fatal(exc):
            raise
        refused: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        refused.set_exception(exc)
        return refused


def new_producer(settings: ProducerSettings) -> Any:
    """The SDK's aiokafka producer for `settings`, not started yet."""
    from aiokafka import AIOKafkaProducer  # lazy: keeps `import` of the SDK light

    s = settings
    return AIOKafkaProducer(
        bootstrap_servers=s.bootstrap,
        client_id="stepmetrics-sdk",
        acks="all" if s.acks == "all" else 1,
        compression_type=None if s.compression == "none" else s.compression,
        enable_idempotence=s.enable_idempotence,
        request_timeout_ms=s.request_timeout_ms,
        max_batch_size=1_048_576,
        max_request_size=s.max_request_bytes,
        linger_ms=0,  # the SDK lingers itself, before coalescing
        **s.security.aiokafka_kwargs(),
    )
