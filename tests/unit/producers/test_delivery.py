"""Delivery outcomes: which broker errors give an envelope up, which are retried."""

from __future__ import annotations

from aiokafka.errors import KafkaConnectionError, KafkaTimeoutError, MessageSizeTooLargeError

from stepmetrics.producers.batcher import Outgoing
from stepmetrics.producers.delivery import is_fatal, new_producer, settle
from stepmetrics.producers.security import KafkaSecurity
from stepmetrics.producers.settings import ProducerSettings
from tests.support.tls import client_security, comparable

SECRET = "sdk-secret"  # noqa: S105 (a test secret)


class _CustomTooLarge(MessageSizeTooLargeError):  # type: ignore[misc]
    pass


def test_fatal_errors_are_recognized_by_class_subclasses_included() -> None:
    assert is_fatal(MessageSizeTooLargeError())
    assert is_fatal(_CustomTooLarge())


def test_retriable_errors_are_not_fatal() -> None:
    assert not is_fatal(KafkaTimeoutError())
    assert not is_fatal(KafkaConnectionError())
    assert not is_fatal(RuntimeError("MessageSizeTooLargeError"))


def test_acknowledged_and_fatal_envelopes_settle_retriable_ones_stay() -> None:
    envelopes = [Outgoing(n, b"k", b"d", values, n) for n, values in [(0, 2), (1, 3), (2, 5)]]
    receipt = settle(envelopes, [object(), _CustomTooLarge(), KafkaTimeoutError()])
    assert receipt.settled == {0, 1}
    assert receipt.delivered == 2
    assert receipt.failed == 3


async def test_the_security_settings_reach_the_aiokafka_producer_unchanged() -> None:
    security = KafkaSecurity("SASL_PLAINTEXT", "SCRAM-SHA-256", "sdk", SECRET)
    producer = new_producer(ProducerSettings(security=security))
    try:
        assert client_security(producer.client) == comparable(security.aiokafka_kwargs())
        assert producer.client._sasl_plain_password == SECRET
    finally:
        await producer.stop()
