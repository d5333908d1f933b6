"""The worker's Prometheus metrics, recorded and rendered without faust or a server."""

from __future__ import annotations

from dataclasses import fields

import pytest
from prometheus_client import generate_latest

from stepmetrics.processors.deadletter import DeadLetterKind
from stepmetrics.processors.telemetry import (
    REDIS_ERROR_KINDS,
    RETRY_OPERATIONS,
    WorkerTelemetry,
)
from stepmetrics.store.stats import ApplyCounts
from tests.support.prometheus import families, labelled, parse_samples, value

W = "stepmetrics_worker"


def _scrape(telemetry: WorkerTelemetry) -> str:
    return generate_latest(telemetry.registry).decode()


def test_every_apply_counter_is_a_prometheus_counter_named_after_its_field() -> None:
    telemetry = WorkerTelemetry()
    counts = ApplyCounts(*range(1, len(fields(ApplyCounts)) + 1))
    telemetry.applied(counts)
    telemetry.applied(ApplyCounts(envelopes_applied=10))
    text = _scrape(telemetry)
    samples = parse_samples(text)
    for name, count in counts.by_counter().items():
        assert families(text)[f"{W}_{name}"] == "counter"
        extra = 10 if name == "envelopes_applied" else 0
        assert value(samples, f"{W}_{name}_total") == count + extra


def test_dead_letters_count_by_kind_and_every_kind_starts_at_zero() -> None:
    telemetry = WorkerTelemetry()
    telemetry.dead_lettered(DeadLetterKind.INVALID_ENVELOPE)
    telemetry.dead_lettered(DeadLetterKind.INVALID_ENVELOPE)
    telemetry.dead_lettered(DeadLetterKind.REFUSED)
    telemetry.dead_letter_failed(DeadLetterKind.UNDECODABLE)
    samples = parse_samples(_scrape(telemetry))
    sent = labelled(samples, f"{W}_dead_letters_total")
    assert {dict(k)["reason"]: v for k, v in sent.items()} == {
        **dict.fromkeys((k.value for k in DeadLetterKind), 0.0),
        "invalid_envelope": 2.0,
        "refused": 1.0,
    }
    failed = labelled(samples, f"{W}_dead_letters_failed_total")
    assert sum(failed.values()) == 1.0
    assert value(samples, f"{W}_dead_letters_failed_total", {"reason": "undecodable"}) == 1.0


def test_retries_and_redis_errors_by_bounded_label() -> None:
    telemetry = WorkerTelemetry()
    telemetry.retried("redis_write")
    telemetry.retried("redis_write")
    telemetry.retried("dead_letter_send")
    telemetry.redis_error("unavailable")
    samples = parse_samples(_scrape(telemetry))
    retries = labelled(samples, f"{W}_retries_total")
    assert {dict(k)["operation"] for k in retries} == set(RETRY_OPERATIONS)
    assert value(samples, f"{W}_retries_total", {"operation": "redis_write"}) == 2.0
    assert value(samples, f"{W}_retries_total", {"operation": "dead_letter_send"}) == 1.0
    errors = labelled(samples, f"{W}_redis_errors_total")
    assert {dict(k)["kind"]: v for k, v in errors.items()} == {
        **dict.fromkeys(REDIS_ERROR_KINDS, 0.0),
        "unavailable": 1.0,
    }


def test_batches_feed_the_message_counter_and_both_histograms() -> None:
    telemetry = WorkerTelemetry()
    telemetry.batch_done(3, 0.004)
    telemetry.batch_done(150, 0.2)
    text = _scrape(telemetry)
    samples = parse_samples(text)
    assert families(text)[f"{W}_apply_latency_seconds"] == "histogram"
    assert families(text)[f"{W}_batch_size_messages"] == "histogram"
    assert value(samples, f"{W}_messages_total") == 153
    assert value(samples, f"{W}_batch_size_messages_count") == 2
    assert value(samples, f"{W}_batch_size_messages_sum") == 153
    assert value(samples, f"{W}_batch_size_messages_bucket", {"le": "5.0"}) == 1
    assert value(samples, f"{W}_batch_size_messages_bucket", {"le": "200.0"}) == 2
    assert value(samples, f"{W}_apply_latency_seconds_bucket", {"le": "0.005"}) == 1
    assert value(samples, f"{W}_apply_latency_seconds_bucket", {"le": "0.25"}) == 2
    assert value(samples, f"{W}_apply_latency_seconds_sum") == pytest.approx(0.204)


def test_lag_per_partition_and_revoked_partitions_disappear() -> None:
    telemetry = WorkerTelemetry()
    telemetry.set_lag({("metrics", 0): 5, ("metrics", 1): 0})
    samples = parse_samples(_scrape(telemetry))
    assert value(samples, f"{W}_consumer_lag", {"topic": "metrics", "partition": "0"}) == 5
    assert value(samples, f"{W}_consumer_lag", {"topic": "metrics", "partition": "1"}) == 0
    telemetry.set_lag({("metrics", 1): 2})
    lags = labelled(parse_samples(_scrape(telemetry)), f"{W}_consumer_lag")
    assert lags == {frozenset({("topic", "metrics"), ("partition", "1")}): 2.0}


def test_two_workers_in_one_process_do_not_share_counts() -> None:
    first, second = WorkerTelemetry(), WorkerTelemetry()
    first.batch_done(7, 0.01)
    assert value(parse_samples(_scrape(first)), f"{W}_messages_total") == 7
    assert value(parse_samples(_scrape(second)), f"{W}_messages_total") == 0
