"""Helpers of the SDK integration tests: read back what reached the topic."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer

from stepmetrics.producers.events import Envelope, decode_envelope
from stepmetrics.producers.settings import ProducerSettings


def settings_for(bootstrap: str, topic: str, **overrides: Any) -> ProducerSettings:
    """Producer settings for tests: short linger and timeouts."""
    values: dict[str, Any] = {
        "bootstrap": bootstrap,
        "topic": topic,
        "linger_ms": 5,
        "request_timeout_ms": 5000,
        "retry_backoff_max": 1.0,
        "flush_timeout": 10.0,
    }
    values.update(overrides)
    return ProducerSettings(**values)


async def read_envelopes(
    bootstrap: str,
    topic: str,
    until: Callable[[list[Envelope]], bool],
    wait_s: float = 30.0,
) -> list[Envelope]:
    """Decode every message of `topic` from the start until `until(envelopes)`.

    Returns what was read when `until` holds; raises AssertionError if it
    does not within `wait_s` seconds.
    """
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        group_id=None,
        enable_auto_commit=False,
    )
    await consumer.start()
    envelopes: list[Envelope] = []
    deadline = time.monotonic() + wait_s
    try:
        while not until(envelopes):
            if time.monotonic() > deadline:
                raise AssertionError(f"gave up after {wait_s}s with {len(envelopes)} envelopes")
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                envelopes.extend(decode_envelope(r.value) for r in records)
    finally:
        await consumer.stop()
    return envelopes


def read_envelopes_sync(
    bootstrap: str, topic: str, until: Callable[[list[Envelope]], bool], wait_s: float = 30.0
) -> list[Envelope]:
    return asyncio.run(read_envelopes(bootstrap, topic, until, wait_s))


def unique(envelopes: list[Envelope]) -> list[Envelope]:
    """One envelope per (execution, identity), in (producer, seq) order;
    duplicates must be equal (seq counts per execution)."""
    seen: dict[tuple[str, str], Envelope] = {}
    for env in envelopes:
        first = seen.setdefault((env.execution_id, env.identity), env)
        assert _same(first, env), f"two different envelopes share identity {env.identity}"
    return sorted(seen.values(), key=lambda e: (e.producer_id, e.seq))


def _same(a: Envelope, b: Envelope) -> bool:
    # NaN != NaN, so compare the representations.
    return repr(a) == repr(b)


def list_values(envelopes: list[Envelope], name: str) -> list[float]:
    """The values appended to list metric `name`, in delivery order."""
    return [
        v for env in envelopes for e in env.events if e[0] == "l" and e[1] == name for v in e[3]
    ]


def events(envelopes: list[Envelope]) -> list[tuple[str, str, Any]]:
    """(kind, name, value) of every event, in order (timestamps dropped)."""
    return [(e[0], e[1], e[3]) for env in envelopes for e in env.events]


def value_count(envelopes: list[Envelope]) -> int:
    return sum(len(e[3]) if e[0] == "l" else 1 for env in envelopes for e in env.events)
