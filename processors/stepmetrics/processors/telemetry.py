"""The worker's Prometheus metrics: what the batch handler and the Faust app report.

`WorkerTelemetry` owns one `CollectorRegistry` per worker (no module-global
registry: two workers in one process, or two tests, never share counts). The
handler and the app call its methods; `MetricsServer` (`exposition.py`)
serves `registry` on `/metrics`. prometheus-client's metrics are thread-safe:
the event loop records, the server's thread reads.

Every label takes values from a fixed set (`DeadLetterKind`, `RETRY_OPERATIONS`,
`REDIS_ERROR_KINDS`, the assigned partitions), never free text. The
`ApplyCounts` counters are exported by iterating its fields, so a counter added
there appears here as `stepmetrics_worker_<field>_total` with no code change.
See docs/worker.md, "Prometheus metrics".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Final, Literal, get_args

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from stepmetrics.processors.deadletter import DeadLetterKind
from stepmetrics.store.stats import ApplyCounts

NAMESPACE: Final = "stepmetrics_worker"
# What a retry retried: a Redis write (apply, counters) or producing a dead letter.
RetryOperation = Literal["redis_write", "dead_letter_send"]
RETRY_OPERATIONS: Final[tuple[RetryOperation, ...]] = get_args(RetryOperation)
# A failed Redis call: retriable (unreachable, OOM, LOADING...) or refused for good.
RedisErrorKind = Literal["unavailable", "rejected"]
REDIS_ERROR_KINDS: Final[tuple[RedisErrorKind, ...]] = get_args(RedisErrorKind)
# Seconds to make one batch durable (applied or dead-lettered), retries included.
LATENCY_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
# Messages per batch (the batch size setting caps it; 200 by default).
BATCH_BUCKETS: Final = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000)

Partition = tuple[str, int]


class WorkerTelemetry:
    """The worker's metrics in a registry of its own (`registry`)."""

    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry(auto_describe=True)

        def counter(name: str, doc: str, labels: tuple[str, ...] = ()) -> Counter:
            return Counter(f"{NAMESPACE}_{name}", doc, labels, registry=registry)

        self._messages = counter("messages", "Messages consumed and made durable")
        self._applied = {
            f.name: counter(f.name, f"The apply script's {f.name} (P:stats field of that name)")
            for f in fields(ApplyCounts)
        }
        dead = counter("dead_letters", "Messages on the dead-letter topic, by reason", ("reason",))
        failed = counter(
            "dead_letters_failed",
            "Messages whose dead letter the broker refused for good (skipped), by reason",
            ("reason",),
        )
        # Every bounded label value from the start (a rate over 0 -> 1 needs the 0),
        # the series kept: `labels()` costs ~10 us a call.
        self._dead_by_kind = {kind: dead.labels(kind.value) for kind in DeadLetterKind}
        self._dead_failed_by_kind = {kind: failed.labels(kind.value) for kind in DeadLetterKind}
        self._retries = counter("retries", "Retried operations, by operation", ("operation",))
        self._redis_errors = counter("redis_errors", "Failed Redis calls, by kind", ("kind",))
        for operation in RETRY_OPERATIONS:
            self._retries.labels(operation)
        for error in REDIS_ERROR_KINDS:
            self._redis_errors.labels(error)
        self._latency = Histogram(
            f"{NAMESPACE}_apply_latency_seconds",
            "Seconds to make one batch durable (applied or dead-lettered), retries included",
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self._batch = Histogram(
            f"{NAMESPACE}_batch_size_messages", "Messages per batch", buckets=BATCH_BUCKETS,
            registry=registry,
        )  # fmt: skip
        self._lag = Gauge(
            f"{NAMESPACE}_consumer_lag",
            "Messages of an assigned partition not applied yet (highwater - position)",
            ["topic", "partition"],
            registry=registry,
        )
        self._lagging: set[Partition] = set()

    def batch_done(self, messages: int, seconds: float) -> None:
        """A batch of `messages` is durable after `seconds`."""
        self._messages.inc(messages)
        self._batch.observe(messages)
        self._latency.observe(seconds)

    def applied(self, counts: ApplyCounts) -> None:
        """Add what the apply script counted."""
        for name, count in counts.by_counter().items():
            if count:
                self._applied[name].inc(count)

    def dead_lettered(self, kind: DeadLetterKind) -> None:
        """One message is on the dead-letter topic."""
        self._dead_by_kind[kind].inc()

    def dead_letter_failed(self, kind: DeadLetterKind) -> None:
        """One message's dead letter was refused for good (the message is skipped)."""
        self._dead_failed_by_kind[kind].inc()

    def retried(self, operation: RetryOperation) -> None:
        """One retry of `operation`."""
        self._retries.labels(operation).inc()

    def redis_error(self, kind: RedisErrorKind) -> None:
        """One failed Redis call of `kind`."""
        self._redis_errors.labels(kind).inc()

    def set_lag(self, lags: Mapping[Partition, int]) -> None:
        """The lag of every assigned partition; partitions no longer assigned are removed."""
        for topic, partition in self._lagging - lags.keys():
            self._lag.remove(topic, str(partition))
        for (topic, partition), lag in lags.items():
            self._lag.labels(topic, str(partition)).set(lag)
        self._lagging = set(lags)
