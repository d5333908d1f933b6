"""Producer settings from the environment."""

from __future__ import annotations

import pytest

from stepmetrics.producers import context as ctxmod
from stepmetrics.producers import settings as setmod
from stepmetrics.producers.errors import SettingsError
from stepmetrics.producers.security import KafkaSecurity
from stepmetrics.producers.settings import ProducerSettings


def test_defaults() -> None:
    s = ProducerSettings.from_env({})
    assert (s.bootstrap, s.topic, s.acks, s.compression) == (
        "127.0.0.1:9092",
        "stepmetrics.events",
        "all",
        "zstd",
    )
    assert s.enable_idempotence is False
    assert s.batch_max_bytes == 900_000


def test_the_spool_defaults_to_the_users_cache_directory(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", "/xdg")
    assert ProducerSettings().spool_directory() == "/xdg/stepmetrics/spool"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", "/home/u")
    assert ProducerSettings().spool_directory() == "/home/u/.cache/stepmetrics/spool"
    assert ProducerSettings(spool_dir="/s").spool_directory() == "/s"


def test_every_variable_is_read() -> None:
    env = {
        "STEPMETRICS_KAFKA_BOOTSTRAP": "k1:9092,k2:9092",
        "STEPMETRICS_TOPIC": "t",
        "STEPMETRICS_FLUSH_TIMEOUT": "2.5",
        "STEPMETRICS_BUFFER_VALUES": "1000",
        "STEPMETRICS_BUFFER_BLOCK_TIMEOUT": "0",
        "STEPMETRICS_LINGER_MS": "5",
        "STEPMETRICS_BATCH_MAX_BYTES": "100000",
        "STEPMETRICS_BATCH_MAX_EVENTS": "10",
        "STEPMETRICS_MAX_REQUEST_BYTES": "2048",
        "STEPMETRICS_COMPRESSION": "GZIP",
        "STEPMETRICS_ACKS": "ALL",
        "STEPMETRICS_ENABLE_IDEMPOTENCE": "true",
        "STEPMETRICS_REQUEST_TIMEOUT_MS": "5000",
        "STEPMETRICS_RETRY_BACKOFF_MAX": "0.5",
        # TLS files are checked for existence: tests/unit/producers/test_security.py.
        "STEPMETRICS_KAFKA_SECURITY_PROTOCOL": "sasl_plaintext",
        "STEPMETRICS_KAFKA_SASL_MECHANISM": "scram-sha-256",
        "STEPMETRICS_KAFKA_SASL_USERNAME": "u",
        "STEPMETRICS_KAFKA_SASL_PASSWORD": "p",
        "STEPMETRICS_SPOOL_DIR": "/var/spool/sm",
        "STEPMETRICS_SPOOL_MAX_BYTES": "1000",
        "STEPMETRICS_DURABILITY": "Disk",
        "STEPMETRICS_MODE": "offline",
    }
    tls_files = {"STEPMETRICS_KAFKA_SSL_CAFILE", "STEPMETRICS_KAFKA_SSL_CERTFILE"}
    tls_files.add("STEPMETRICS_KAFKA_SSL_KEYFILE")
    assert set(env) | tls_files == setmod.ENV_VARS - ctxmod.ENV_VARS
    s = ProducerSettings.from_env(env)
    assert s == ProducerSettings(
        bootstrap="k1:9092,k2:9092",
        topic="t",
        flush_timeout=2.5,
        buffer_values=1000,
        block_timeout=0.0,
        linger_ms=5,
        batch_max_bytes=100_000,
        batch_max_events=10,
        max_request_bytes=2048,
        compression="gzip",
        acks="all",
        enable_idempotence=True,
        request_timeout_ms=5000,
        retry_backoff_max=0.5,
        security=KafkaSecurity("SASL_PLAINTEXT", "SCRAM-SHA-256", "u", "p"),
        spool_dir="/var/spool/sm",
        spool_max_bytes=1000,
        durability="disk",
        mode="offline",
    )


def test_idempotence_needs_acks_all() -> None:
    assert ProducerSettings.from_env({"STEPMETRICS_ENABLE_IDEMPOTENCE": "1"}).enable_idempotence
    with pytest.raises(SettingsError, match="STEPMETRICS_ENABLE_IDEMPOTENCE=True"):
        ProducerSettings.from_env(
            {"STEPMETRICS_ENABLE_IDEMPOTENCE": "yes", "STEPMETRICS_ACKS": "1"}
        )
