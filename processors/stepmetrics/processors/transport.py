"""A faust transport (aiokafka) whose consumer fetch wait and size are configurable.

faust's aiokafka driver builds its consumer with a fixed
`fetch_max_wait_ms=1500`. Apache Kafka answers a fetch as soon as data
arrives, so the wait costs nothing there; the local/test broker (Tansu) holds
every fetch for the whole wait, which made record-to-queryable latency
~0.4 s median and ~0.75 s worst case. This transport is faust's own, with only
that number taken from `ProcessorSettings.fetch_max_wait`. faust also leaves
aiokafka's `fetch_max_bytes` at its default (50 MiB); it comes from
`ProcessorSettings.fetch_max_bytes` here (the per-partition bound is faust's
own `consumer_max_fetch_size` setting, which the app sets).

`broker_credentials` turns the worker's `KafkaSecurity` into faust's
credentials object, which faust's driver converts back into the same aiokafka
keyword arguments for its consumer and its producer (dead letters, topic
creation) in `credentials_to_aiokafka_auth`.

Registered for the broker URL scheme `stepmetrics://` through the
`faust.transports` entry point (pyproject.toml), faust's plugin mechanism.
"""

from __future__ import annotations

from typing import Any, cast

import faust
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types.auth import CredentialsT

from stepmetrics.producers.security import KafkaSecurity

SCHEME = "stepmetrics"


class WorkerApp(faust.App):
    """The worker's faust app: carries the fetch settings `_ConsumerThread` applies."""

    stepmetrics_fetch_max_wait: float = 1.5  # faust's own value until set
    stepmetrics_fetch_max_bytes: int = 52_428_800  # aiokafka's own value until set


def broker_credentials(security: KafkaSecurity) -> CredentialsT | None:
    """faust's `broker_credentials` for `security`; None for plaintext."""
    context = security.ssl_context()
    if security.sasl:
        return faust.SASLCredentials(
            username=security.sasl_username,
            password=security.sasl_password,
            mechanism=security.sasl_mechanism,
            ssl_context=context,  # faust: a context makes it SASL_SSL
        )
    if context is not None:
        return faust.SSLCredentials(context)
    return None


class _ConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        # aiokafka reads this when the consumer starts (its Fetcher is built
        # in start()), and faust starts it only after this method returns.
        app = cast(WorkerApp, self.app)
        consumer._fetch_max_wait_ms = int(app.stepmetrics_fetch_max_wait * 1000)
        consumer._fetch_max_bytes = app.stepmetrics_fetch_max_bytes
        return consumer


class _Consumer(faust_aiokafka.Consumer):
    def _new_consumer_thread(self) -> _ConsumerThread:
        return _ConsumerThread(self, loop=self.loop, beacon=self.beacon)


class Transport(faust_aiokafka.Transport):
    """faust's aiokafka transport with `_Consumer`."""

    Consumer = _Consumer
