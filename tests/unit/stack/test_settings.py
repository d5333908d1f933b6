"""StackSettings: defaults, parsing, and errors that name the variable and value."""

from __future__ import annotations

from pathlib import Path

import pytest

from stepmetrics.producers.security import KafkaSecurity
from stepmetrics.stack.errors import StackSettingsError
from stepmetrics.stack.settings import ENV_VARS, StackSettings


def test_defaults() -> None:
    settings = StackSettings.from_env({})
    assert settings.kafka_bootstrap is None
    assert settings.redis_url is None
    assert settings.topic == "stepmetrics.events"
    assert settings.deadletter_topic == "stepmetrics.events.deadletter"
    assert settings.topic_partitions == 4
    assert settings.api_token is None
    assert settings.data_dir == Path(".stepmetrics")
    assert settings.startup_timeout == 60.0


# Every variable but the Kafka TLS files (checked for existence: tests/unit/producers).
EVERY_VARIABLE = {
    "STEPMETRICS_KAFKA_BOOTSTRAP": "k1:9092,k2:9093",
    "STEPMETRICS_REDIS_URL": "redis://r:6380/2",
    "STEPMETRICS_TOPIC": "m",
    "STEPMETRICS_DEADLETTER_TOPIC": "dead",
    "STEPMETRICS_TOPIC_PARTITIONS": "8",
    "STEPMETRICS_API_TOKEN": "s3cret-token",
    "STEPMETRICS_DATA_DIR": "/var/lib/sm",
    "STEPMETRICS_STARTUP_TIMEOUT": "2.5",
    "STEPMETRICS_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
    "STEPMETRICS_KAFKA_SASL_MECHANISM": "PLAIN",
    "STEPMETRICS_KAFKA_SASL_USERNAME": "up",
    "STEPMETRICS_KAFKA_SASL_PASSWORD": "up-secret",
}


def test_from_env_reads_every_variable() -> None:
    settings = StackSettings.from_env(EVERY_VARIABLE)
    assert settings == StackSettings(
        kafka_bootstrap="k1:9092,k2:9093",
        redis_url="redis://r:6380/2",
        topic="m",
        deadletter_topic="dead",
        topic_partitions=8,
        api_token="s3cret-token",  # noqa: S106 - a test value
        data_dir=Path("/var/lib/sm"),
        startup_timeout=2.5,
        kafka_security=KafkaSecurity("SASL_PLAINTEXT", "PLAIN", "up", "up-secret"),
    )
    assert set(EVERY_VARIABLE) <= ENV_VARS


def test_deadletter_follows_topic() -> None:
    assert StackSettings.from_env({"STEPMETRICS_TOPIC": "x"}).deadletter_topic == "x.deadletter"


def test_empty_values_mean_unset() -> None:
    settings = StackSettings.from_env(
        {"STEPMETRICS_KAFKA_BOOTSTRAP": " ", "STEPMETRICS_REDIS_URL": "", "STEPMETRICS_TOPIC": ""}
    )
    assert (settings.kafka_bootstrap, settings.redis_url) == (None, None)
    assert settings.topic == "stepmetrics.events"


def test_token_kept_out_of_repr() -> None:
    settings = StackSettings.from_env({"STEPMETRICS_API_TOKEN": "very-secret"})
    assert "very-secret" not in repr(settings)


def test_blank_token_rejected_without_echoing_it() -> None:
    with pytest.raises(StackSettingsError, match="STEPMETRICS_API_TOKEN"):
        StackSettings.from_env({"STEPMETRICS_API_TOKEN": " padded "})


def test_kafka_security_goes_with_an_external_broker() -> None:
    env = dict(EVERY_VARIABLE)  # an external broker with SASL_PLAINTEXT, PLAIN
    assert "STEPMETRICS_KAFKA_SASL_PASSWORD" in ENV_VARS
    settings = StackSettings.from_env(env)
    assert settings.kafka_security.aiokafka_kwargs()["sasl_mechanism"] == "PLAIN"
    assert "up-secret" not in repr(settings)
    # The embedded broker is plaintext: a secured protocol without a broker is refused.
    del env["STEPMETRICS_KAFKA_BOOTSTRAP"]
    with pytest.raises(
        StackSettingsError, match="needs an external broker: set STEPMETRICS_KAFKA_BOOTSTRAP"
    ):
        StackSettings.from_env(env)
    # Bad values come as the stack's own error, naming the variable.
    with pytest.raises(StackSettingsError, match="STEPMETRICS_KAFKA_SASL_PASSWORD is required"):
        StackSettings.from_env({**env, "STEPMETRICS_KAFKA_SASL_PASSWORD": ""})


def test_the_admin_token_is_optional_and_never_the_read_token() -> None:
    assert StackSettings.from_env({}).api_admin_token is None
    given = StackSettings.from_env({"STEPMETRICS_API_ADMIN_TOKEN": "adm-0123456789"})
    assert given.api_admin_token == "adm-0123456789"  # noqa: S105
    with pytest.raises(StackSettingsError, match="must differ"):
        StackSettings.from_env(
            {
                "STEPMETRICS_API_TOKEN": "same-0123456789",
                "STEPMETRICS_API_ADMIN_TOKEN": "same-0123456789",
            }
        )
