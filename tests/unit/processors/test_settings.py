"""Worker settings from the environment."""

from __future__ import annotations

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


def test_from_env_reads_every_variable_it_declares() -> None:
    env = {
        "STEPMETRICS_KAFKA_BOOTSTRAP": "k:1",
        "STEPMETRICS_TOPIC": "t",
        "STEPMETRICS_TOPIC_PARTITIONS": "8",
        "STEPMETRICS_REDIS_URL": "redis://r:1/2",
        "STEPMETRICS_REDIS_PREFIX": "px",
        "STEPMETRICS_WORKER_GROUP": "g",
        "STEPMETRICS_WORKER_BATCH_SIZE": "7",
        "STEPMETRICS_WORKER_BATCH_WITHIN": "0.5",
        "STEPMETRICS_KAFKA_SESSION_TIMEOUT": "4",
        "STEPMETRICS_KAFKA_HEARTBEAT_INTERVAL": "1",
        "STEPMETRICS_WORKER_LOG_LEVEL": "DEBUG",
        "STEPMETRICS_KAFKA_MAX_PARTITION_FETCH_BYTES": "2048",
        "STEPMETRICS_KAFKA_FETCH_MAX_BYTES": "8192",
        "STEPMETRICS_DEADLETTER_MAX_BYTES": "5000",
    }
    settings = ProcessorSettings.from_env(env)
    assert set(env) <= ENV_VARS
    assert (settings.topic, settings.deadletter_topic) == ("t", "t.deadletter")
    assert (settings.topic_partitions, settings.batch_size, settings.batch_within) == (8, 7, 0.5)
    assert (settings.session_timeout, settings.log_level, settings.group_id) == (4.0, "debug", "g")
    assert (settings.max_partition_fetch_bytes, settings.fetch_max_bytes) == (2048, 8192)
    assert settings.deadletter_max_bytes == 5000
    assert all(name.startswith("STEPMETRICS_") for name in ENV_VARS)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("STEPMETRICS_WORKER_BATCH_SIZE", "0"),
        ("STEPMETRICS_WORKER_BATCH_SIZE", "many"),
        ("STEPMETRICS_WORKER_BATCH_WITHIN", "-1"),
        ("STEPMETRICS_KAFKA_HEARTBEAT_INTERVAL", "30"),
        ("STEPMETRICS_WORKER_LOG_LEVEL", "loud"),
        ("STEPMETRICS_DEADLETTER_TOPIC", "stepmetrics.events"),
        ("STEPMETRICS_REDIS_PREFIX", "a{b}"),
        ("STEPMETRICS_DEADLETTER_MAX_BYTES", "4095"),
        ("STEPMETRICS_KAFKA_FETCH_MAX_BYTES", "0"),
        ("STEPMETRICS_KAFKA_MAX_PARTITION_FETCH_BYTES", "-5"),
        ("STEPMETRICS_MAX_SCALAR_NAMES", "0"),
        ("STEPMETRICS_MAX_LIST_NAMES", "-3"),
        ("STEPMETRICS_MAX_ENVELOPE_EVENTS", "0"),
    ],
)
def test_bad_values_name_the_variable_and_the_value(variable: str, value: str) -> None:
    with pytest.raises(ProcessorSettingsError) as caught:
        ProcessorSettings.from_env({variable: value})
    assert variable in str(caught.value)
    assert isinstance(caught.value, ValueError)
    if "PREFIX" not in variable:
        assert repr(value) in str(caught.value) or value in str(caught.value)


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


def test_limits_per_execution_default_and_are_configured() -> None:
    defaults = ProcessorSettings.from_env({})
    assert defaults.limits == WriteLimits(scalar_names=10_000, list_names=10_000, producers=1_000)
    assert defaults.max_envelope_events == 50_000
    env = {
        "STEPMETRICS_MAX_SCALAR_NAMES": "3",
        "STEPMETRICS_MAX_LIST_NAMES": "4",
        "STEPMETRICS_MAX_ENVELOPE_EVENTS": "25000",
        "STEPMETRICS_WORKER_MAX_PRODUCERS": "5",
    }
    settings = ProcessorSettings.from_env(env)
    assert set(env) <= ENV_VARS
    assert settings.limits == WriteLimits(scalar_names=3, list_names=4, producers=5)
    assert settings.max_envelope_events == 25_000
