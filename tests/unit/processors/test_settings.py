"""Worker settings from the environment."""

from __future__ import annotations

from operator import attrgetter

import pytest

from stepmetrics.processors import ENV_VARS, ProcessorSettings, ProcessorSettingsError
from stepmetrics.processors.writes.limits import WriteLimits
from stepmetrics.producers.security import ENV_VARS as KAFKA_SECURITY_ENV_VARS


def test_defaults_follow_the_documented_names() -> None:
    settings = ProcessorSettings.from_env({})
    assert settings.kafka_bootstrap == "127.0.0.1:9092"
    assert settings.topic == "stepmetrics.events"
    assert settings.deadletter_topic == "stepmetrics.events.deadletter"
    assert settings.redis.url == "redis://127.0.0.1:6379/0"
    assert settings.keys.prefix == "stepmetrics"


# Each variable the worker declares: its text, the settings attribute and its value.
EVERY_VARIABLE: dict[str, tuple[str, str, object]] = {
    "STEPMETRICS_KAFKA_BOOTSTRAP": ("k:1", "kafka_bootstrap", "k:1"),
    "STEPMETRICS_TOPIC": ("t", "topic", "t"),
    "STEPMETRICS_TOPIC_PARTITIONS": ("8", "topic_partitions", 8),
    "STEPMETRICS_REDIS_URL": ("redis://r:1/2", "redis.url", "redis://r:1/2"),
    "STEPMETRICS_REDIS_PREFIX": ("px", "redis_prefix", "px"),
    "STEPMETRICS_WORKER_GROUP": ("g", "group_id", "g"),
    "STEPMETRICS_WORKER_BATCH_SIZE": ("7", "batch_size", 7),
    "STEPMETRICS_WORKER_BATCH_WITHIN": ("0.5", "batch_within", 0.5),
    "STEPMETRICS_KAFKA_SESSION_TIMEOUT": ("4", "session_timeout", 4.0),
    "STEPMETRICS_KAFKA_HEARTBEAT_INTERVAL": ("1", "heartbeat_interval", 1.0),
    "STEPMETRICS_WORKER_LOG_LEVEL": ("DEBUG", "log_level", "debug"),
    "STEPMETRICS_KAFKA_MAX_PARTITION_FETCH_BYTES": ("2048", "max_partition_fetch_bytes", 2048),
    "STEPMETRICS_KAFKA_FETCH_MAX_BYTES": ("8192", "fetch_max_bytes", 8192),
    "STEPMETRICS_DEADLETTER_MAX_BYTES": ("5000", "deadletter_max_bytes", 5000),
    "STEPMETRICS_MAX_SCALAR_NAMES": ("3", "max_scalar_names", 3),
    "STEPMETRICS_MAX_LIST_NAMES": ("4", "max_list_names", 4),
    "STEPMETRICS_MAX_ENVELOPE_EVENTS": ("25000", "max_envelope_events", 25_000),
    "STEPMETRICS_WORKER_MAX_PRODUCERS": ("5", "max_producers", 5),
    "STEPMETRICS_WORKER_METRICS_PORT": ("9999", "metrics_port", 9999),
    "STEPMETRICS_WORKER_METRICS_HOST": (" 0.0.0.0 ", "metrics_host", "0.0.0.0"),  # noqa: S104
}


def test_from_env_reads_every_variable_it_declares() -> None:
    env = {name: text for name, (text, _, _) in EVERY_VARIABLE.items()}
    settings = ProcessorSettings.from_env(env)
    assert set(env) <= ENV_VARS
    for name, (_, attribute, value) in EVERY_VARIABLE.items():
        assert attrgetter(attribute)(settings) == value, name
    assert settings.deadletter_topic == "t.deadletter"
    assert settings.limits == WriteLimits(scalar_names=3, list_names=4, producers=5)
    assert all(name.startswith("STEPMETRICS_") for name in ENV_VARS)


def test_fetch_wait_defaults_short_and_is_validated() -> None:
    assert ProcessorSettings.from_env({}).fetch_max_wait == 0.1
    assert (
        ProcessorSettings.from_env({"STEPMETRICS_KAFKA_FETCH_MAX_WAIT": "0.5"}).fetch_max_wait
        == 0.5
    )
    with pytest.raises(ProcessorSettingsError, match="STEPMETRICS_KAFKA_FETCH_MAX_WAIT"):
        ProcessorSettings.from_env({"STEPMETRICS_KAFKA_FETCH_MAX_WAIT": "0"})


def test_kafka_security_errors_are_the_workers_own() -> None:
    env = {
        "STEPMETRICS_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "STEPMETRICS_KAFKA_SASL_MECHANISM": "PLAIN",
    }
    with pytest.raises(ProcessorSettingsError, match="STEPMETRICS_KAFKA_SASL_USERNAME is required"):
        ProcessorSettings.from_env(env)
    assert KAFKA_SECURITY_ENV_VARS <= ENV_VARS


def test_limits_per_execution_default() -> None:
    # Configured: test_from_env_reads_every_variable_it_declares.
    defaults = ProcessorSettings.from_env({})
    assert defaults.limits == WriteLimits(scalar_names=10_000, list_names=10_000, producers=1_000)
    assert defaults.max_envelope_events == 50_000


def test_metrics_are_served_on_loopback_by_default_and_the_port_is_validated() -> None:
    settings = ProcessorSettings.from_env({})
    assert (settings.metrics_host, settings.metrics_port) == ("127.0.0.1", 9478)
    assert ProcessorSettings.from_env({"STEPMETRICS_WORKER_METRICS_PORT": "0"}).metrics_port == 0
    for bad in ("65536", "-1"):
        with pytest.raises(ProcessorSettingsError, match=r"METRICS_PORT='?" + bad + ".*0 = off"):
            ProcessorSettings.from_env({"STEPMETRICS_WORKER_METRICS_PORT": bad})
    with pytest.raises(ProcessorSettingsError, match=r"METRICS_PORT='http'.*a port number"):
        ProcessorSettings.from_env({"STEPMETRICS_WORKER_METRICS_PORT": "http"})
    with pytest.raises(ProcessorSettingsError, match="METRICS_HOST"):
        ProcessorSettings(metrics_host=" ")
