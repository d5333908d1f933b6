"""The Faust app: a thin adapter from the topic to `BatchHandler`.

Offsets are committed only after the Redis write succeeded. Faust commits the
offsets of *acked* events; `Stream.take()` acks its buffered events in a
`finally` block, which also runs when the agent is cancelled (SIGTERM) or
crashes mid-write, so an unwritten batch could be committed on shutdown.
`Stream.noack_take()` (faust-streaming >= 0.10) never acks: the agent acks each
event itself, and only after `BatchHandler.handle` returned, i.e. after every
message of the batch is in Redis or in the dead-letter topic. The handler
retries forever instead of raising, because a crashed agent would leave a gap
that later acks commit past.
"""

from __future__ import annotations

import logging
import time
from functools import partial
from typing import Any

import faust

from stepmetrics.processors.deadletter import DeadLetter, RawMessage
from stepmetrics.processors.failures import redis_error_kind
from stepmetrics.processors.handler import BatchHandler
from stepmetrics.processors.ready import WORKER_READY
from stepmetrics.processors.settings import ProcessorSettings
from stepmetrics.processors.telemetry import Partition, WorkerTelemetry
from stepmetrics.processors.transport import SCHEME, WorkerApp, broker_credentials
from stepmetrics.processors.writes.writer import MetricsWriter
from stepmetrics.store.stats import add_to_counter

logger = logging.getLogger(__name__)


class FaustDeadLetterSink:
    """Produces dead letters with the app's producer and waits for the ack."""

    def __init__(self, topic: Any, max_bytes: int) -> None:
        self._topic = topic
        self._max_bytes = max_bytes

    async def send(self, letter: DeadLetter) -> None:
        record = letter.fit(self._max_bytes)
        # force=True: inside an agent Faust would otherwise attach the message
        # to the current event and only send it when that event is acked.
        pending = await self._topic.send(
            key=record.key, value=record.value, headers=record.headers, force=True
        )
        await pending


def create_app(settings: ProcessorSettings, telemetry: WorkerTelemetry | None = None) -> faust.App:
    """Build the worker app (consumer group = `settings.group_id`); its metrics go to
    `telemetry` (a new one if None)."""
    app = WorkerApp(
        settings.group_id,
        broker=[f"{SCHEME}://{host.strip()}" for host in settings.kafka_bootstrap.split(",")],
        broker_credentials=broker_credentials(settings.kafka_security),
        value_serializer="raw",
        key_serializer="raw",
        store="memory://",
        web_enabled=False,
        datadir=settings.datadir,
        consumer_auto_offset_reset="earliest",
        broker_session_timeout=settings.session_timeout,
        broker_heartbeat_interval=settings.heartbeat_interval,
        broker_commit_interval=settings.commit_interval,
        producer_acks=-1,
        consumer_max_fetch_size=settings.max_partition_fetch_bytes,
        # Dead letters are its only records, each within the budget by construction.
        producer_max_request_size=max(settings.deadletter_max_bytes, 1_000_000),
        # No leader-only feature is used: do not declare faust's
        # `<group>-__assignor-__leader` topic (it would need Create on Kafka).
        topic_disable_leader=True,
    )
    app.stepmetrics_fetch_max_wait = settings.fetch_max_wait
    app.stepmetrics_fetch_max_bytes = settings.fetch_max_bytes
    source = app.topic(settings.topic, value_serializer="raw", key_serializer="raw")
    dead = app.topic(settings.deadletter_topic, value_serializer="raw", key_serializer="raw")
    client = settings.redis.connect(timeout=settings.redis_timeout)
    writer = MetricsWriter(client, settings.keys, limits=settings.limits)
    sink = FaustDeadLetterSink(dead, settings.deadletter_max_bytes)
    count = partial(add_to_counter, client, settings.keys)
    handler = BatchHandler(
        writer,
        sink,
        settings.max_backoff,
        count,
        max_events=settings.max_envelope_events,
        telemetry=telemetry,
    )
    ready = {"printed": False}

    @app.agent(source)
    async def apply_metrics(stream: Any) -> None:
        async for events in stream.noack_take(settings.batch_size, within=settings.batch_within):
            await handler.handle([_raw(event.message) for event in events])
            for event in events:
                await stream.ack(event)

    @app.on_partitions_assigned.connect
    async def on_assigned(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        if not ready["printed"]:
            ready["printed"] = True
            print(WORKER_READY, flush=True)  # the documented readiness line

    @app.timer(settings.stats_interval)  # type: ignore[untyped-decorator]
    async def report() -> None:
        lags = _lags(app, handler)
        handler.telemetry.set_lag(lags)
        lag = sum(lags.values())
        logger.info("stepmetrics worker: lag=%s %s", lag, handler.counters.summary())
        try:
            await writer.set_lag(lag, time.time_ns() // 1000)
        except Exception as exc:  # noqa: BLE001 - a missed report is not worth a crash
            kind = redis_error_kind(exc)
            if kind is not None:
                handler.telemetry.redis_error(kind)
            logger.warning("could not record the lag in Redis: %s", exc)

    return app


def _raw(message: Any) -> RawMessage:
    headers = message.headers or ()
    if isinstance(headers, dict):
        headers = list(headers.items())
    return RawMessage(
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        key=message.key,
        value=message.value,
        headers=tuple(headers),
    )


def _lags(app: faust.App, handler: BatchHandler) -> dict[Partition, int]:
    """Messages of each assigned partition this worker has not applied yet
    (partitions whose highwater the consumer does not know yet are left out)."""
    lags: dict[Partition, int] = {}
    # Before this worker applied anything from a partition, its committed
    # offset is where it stands (Faust keeps it, privately; None = from 0).
    committed = getattr(app.consumer, "_committed_offset", {})
    for tp in app.consumer.assignment():
        highwater = app.consumer.highwater(tp)
        position = handler.counters.positions.get((tp.topic, tp.partition))
        if position is None:
            position = committed.get(tp) or 0
        if highwater is not None:
            lags[(tp.topic, tp.partition)] = max(0, highwater - position)
    return lags
