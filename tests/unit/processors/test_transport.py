"""The worker's faust transport (the `stepmetrics://` broker URL scheme)."""

from __future__ import annotations

from typing import Any

import pytest

from stepmetrics.processors.settings import ProcessorSettings
from stepmetrics.producers.security import KafkaSecurity
from tests.support.tls import Certificates, client_security, comparable


def test_the_worker_transport_is_registered_with_faust() -> None:
    from faust.transport.drivers import by_url

    from stepmetrics.processors.transport import SCHEME, Transport

    assert by_url(f"{SCHEME}://127.0.0.1:9092") is Transport


def _security(protocol: str, certs: Certificates) -> KafkaSecurity:
    sasl = {"sasl_mechanism": "SCRAM-SHA-512", "sasl_username": "w", "sasl_password": "w-secret"}
    tls = {
        "ssl_cafile": str(certs.ca),
        "ssl_certfile": str(certs.client_cert),
        "ssl_keyfile": str(certs.client_key),
    }
    values = {"SSL": tls, "SASL_PLAINTEXT": sasl, "SASL_SSL": sasl | tls}.get(protocol, {})
    return KafkaSecurity(protocol, **values)


@pytest.mark.parametrize("protocol", ["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"])
async def test_faust_gives_its_producer_and_consumer_the_same_security(
    certs: Certificates, protocol: str
) -> None:
    from stepmetrics.processors.app import create_app

    security = _security(protocol, certs)
    app: Any = create_app(ProcessorSettings(kafka_security=security))
    # faust's own aiokafka clients: the producer (dead letters, topic
    # creation) and the worker's consumer, built as faust builds them.
    producer = app.producer._new_producer()
    thread = app.consumer._thread  # faust made it (our `_ConsumerThread`) with the consumer
    consumer = thread._create_worker_consumer(app.transport)
    try:
        expected = comparable(security.aiokafka_kwargs())
        assert client_security(producer.client) == expected
        assert client_security(consumer._client) == expected
    finally:
        await producer.stop()
        await consumer.stop()
        thread.thread_loop.close()  # the thread never ran: its loop is ours to close
    assert "w-secret" not in repr(app.conf.broker_credentials)
