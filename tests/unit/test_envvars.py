"""The shared settings kernel: passwords never reach a log line, an error or a repr."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from stepmetrics.cli.up import ready_line
from stepmetrics.envvars import bad_value, redact
from stepmetrics.processors.errors import ProcessorError, ProcessorSettingsError
from stepmetrics.processors.settings import ProcessorSettings
from stepmetrics.producers.errors import ProducerError, SettingsError
from stepmetrics.producers.security import KafkaSecurity
from stepmetrics.producers.settings import ProducerSettings
from stepmetrics.stack.errors import StackError, StackSettingsError
from stepmetrics.stack.launcher import Launcher, Ports
from stepmetrics.stack.settings import StackSettings
from stepmetrics.stack.state import StackState
from stepmetrics.store.connection import RedisConnection
from stepmetrics.store.errors import StoreError, StoreSettingsError
from stepmetrics.store.settings import API_TOKEN, ApiSettings, ClientSettings, StoreSettings

SECRET = "secret"  # noqa: S105 - a test value
URLS = ["redis://user:secret@host:6379/0", "rediss://:secret@host"]
TOKEN = "s3cret-token-value"  # noqa: S105 - a test value
URL_FORMS = "redis://[user:password@]host:port/db, rediss://... (TLS) or unix:///path"
PREFIX_RULE = "is not allowed: it must be non-empty without braces or whitespace"
MIN_1 = "an integer >= 1"
# Each component's settings classes: (its settings error, its error root).
ERRORS: dict[type[Any], tuple[type[Exception], type[Exception]]] = {
    ProducerSettings: (SettingsError, ProducerError),
    KafkaSecurity: (SettingsError, ProducerError),
    ProcessorSettings: (ProcessorSettingsError, ProcessorError),
    StoreSettings: (StoreSettingsError, StoreError),
    ApiSettings: (StoreSettingsError, StoreError),
    ClientSettings: (StoreSettingsError, StoreError),
    RedisConnection: (StoreSettingsError, StoreError),
    StackSettings: (StackSettingsError, StackError),
}
# Per settings class: (variable, bad text, the value as the error shows it, what is allowed).
BAD_VALUES: dict[type[Any], list[tuple[str, str, object, str]]] = {
    ProducerSettings: [
        ("STEPMETRICS_DURABILITY", "ssd", "ssd", "('memory', 'disk')"),
        ("STEPMETRICS_MODE", "airgap", "airgap", "('online', 'offline')"),
        ("STEPMETRICS_SPOOL_MAX_BYTES", "-1", -1, ">= 0"),
        ("STEPMETRICS_MAX_REQUEST_BYTES", "1023", 1023, ">= 1024"),
        ("STEPMETRICS_FLUSH_TIMEOUT", "soon", "soon", "a number"),
        ("STEPMETRICS_FLUSH_TIMEOUT", "-1", -1.0, ">= 0"),
        ("STEPMETRICS_FLUSH_TIMEOUT", "nan", float("nan"), ">= 0"),
        ("STEPMETRICS_BUFFER_VALUES", "0", 0, ">= 1"),
        ("STEPMETRICS_BUFFER_VALUES", "1.5", "1.5", "an integer"),
        ("STEPMETRICS_BATCH_MAX_BYTES", "2000000", 2_000_000, "8192..900000"),
        ("STEPMETRICS_COMPRESSION", "brotli", "brotli",
         "('none', 'gzip', 'snappy', 'lz4', 'zstd')"),
        ("STEPMETRICS_ACKS", "0", "0", "('all', '1')"),
        ("STEPMETRICS_ENABLE_IDEMPOTENCE", "maybe", "maybe", "true or false"),
        ("STEPMETRICS_TOPIC", " ", " ", "non-empty"),
    ],
    KafkaSecurity: [
        ("STEPMETRICS_KAFKA_SECURITY_PROTOCOL", "TLS", "TLS",
         "PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL"),
    ],
    ProcessorSettings: [
        ("STEPMETRICS_WORKER_BATCH_SIZE", "0", 0, MIN_1),
        ("STEPMETRICS_WORKER_BATCH_SIZE", "many", "many", "an integer"),
        ("STEPMETRICS_WORKER_BATCH_WITHIN", "-1", -1.0, "a number > 0"),
        ("STEPMETRICS_KAFKA_HEARTBEAT_INTERVAL", "30", 30.0, "less than the session timeout"),
        ("STEPMETRICS_WORKER_LOG_LEVEL", "loud", "loud", "one of debug, info, warning, error"),
        ("STEPMETRICS_DEADLETTER_TOPIC", "stepmetrics.events", "stepmetrics.events",
         "a topic other than the source"),
        ("STEPMETRICS_REDIS_PREFIX", "a{b}", "a{b}", f"Redis key prefix 'a{{b}}' {PREFIX_RULE}"),
        ("STEPMETRICS_DEADLETTER_MAX_BYTES", "4095", 4095, "an integer >= 4096"),
        ("STEPMETRICS_KAFKA_FETCH_MAX_BYTES", "0", 0, MIN_1),
        ("STEPMETRICS_KAFKA_MAX_PARTITION_FETCH_BYTES", "-5", -5, MIN_1),
        ("STEPMETRICS_MAX_SCALAR_NAMES", "0", 0, MIN_1),
        ("STEPMETRICS_MAX_LIST_NAMES", "-3", -3, MIN_1),
        ("STEPMETRICS_MAX_ENVELOPE_EVENTS", "0", 0, MIN_1),
    ],
    RedisConnection: [
        ("STEPMETRICS_REDIS_URL", "http://u:secret@r:6379", "http://u:***@r:6379", URL_FORMS),
        ("STEPMETRICS_REDIS_CLUSTER", "maybe", "maybe", "true or false"),
    ],
    StoreSettings: [
        ("STEPMETRICS_REDIS_PREFIX", "a b", "a b", f"Redis key prefix 'a b' {PREFIX_RULE}"),
    ],
    ApiSettings: [
        ("STEPMETRICS_REDIS_URL", "http://x", "http://x", URL_FORMS),
        ("STEPMETRICS_REDIS_PREFIX", "a b", "a b", f"Redis key prefix 'a b' {PREFIX_RULE}"),
        ("STEPMETRICS_API_PORT", "eighty", "eighty", "an integer"),
        ("STEPMETRICS_API_PORT", "70000", 70_000, "a TCP port 0..65535"),
    ],
    ClientSettings: [
        ("STEPMETRICS_API_URL", "ftp://x", "ftp://x", "an http:// or https:// URL"),
        ("STEPMETRICS_API_TIMEOUT", "soon", "soon", "a number of seconds"),
        ("STEPMETRICS_API_TIMEOUT", "0", 0.0, "seconds in (0, 3600]"),
    ],
    StackSettings: [
        ("STEPMETRICS_KAFKA_BOOTSTRAP", "localhost", "localhost",
         "host:port, comma separated for several brokers"),
        ("STEPMETRICS_KAFKA_BOOTSTRAP", "http://k:9092", "http://k:9092",
         "host:port, comma separated for several brokers"),
        ("STEPMETRICS_REDIS_URL", "http://r:6379", "http://r:6379", URL_FORMS),
        ("STEPMETRICS_REDIS_URL", "r:6379", "r:6379", URL_FORMS),
        ("STEPMETRICS_TOPIC", "has space", "has space",
         "a Kafka topic name: 1-249 characters from A-Z a-z 0-9 . _ -"),
        ("STEPMETRICS_DEADLETTER_TOPIC", "stepmetrics.events", "stepmetrics.events",
         "a topic other than STEPMETRICS_TOPIC"),
        ("STEPMETRICS_TOPIC_PARTITIONS", "four", "four", "an integer"),
        ("STEPMETRICS_TOPIC_PARTITIONS", "0", 0, "an integer 1..1000"),
        ("STEPMETRICS_STARTUP_TIMEOUT", "-1", -1.0, "a positive number of seconds"),
        ("STEPMETRICS_STARTUP_TIMEOUT", "soon", "soon", "a number"),
    ],
}  # fmt: skip


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("redis://user:secret@host:6379/0", "redis://user:***@host:6379/0"),
        ("rediss://:secret@host", "rediss://:***@host"),
        ("redis://:p@ss:secret@host/1", "redis://:***@host/1"),
        ("redis://host/0?password=secret&db=1", "redis://host/0?password=***&db=1"),
        ("at redis://u:secret@h:1 and u:secret@k:9092", "at redis://u:***@h:1 and u:***@k:9092"),
        ("redis://host:6379/0", "redis://host:6379/0"),
        ("k1:9092,k2:9093", "k1:9092,k2:9093"),
        ("unix:///run/redis.sock", "unix:///run/redis.sock"),
    ],
)  # fmt: skip
def test_redact_hides_passwords_only(text: str, shown: str) -> None:
    assert redact(text) == shown


@pytest.mark.parametrize("url", URLS)
def test_bad_value_redacts(url: str) -> None:
    assert SECRET not in bad_value("STEPMETRICS_REDIS_URL", url, "a URL")
    assert bad_value("X", 3, "a str") == "X=3 is not allowed: a str"


@pytest.mark.parametrize("url", URLS)
def test_settings_errors_and_reprs_hold_no_password(url: str) -> None:
    bad = url.replace("redis", "http", 1)
    with pytest.raises(StoreSettingsError) as store_error:
        StoreSettings(redis=RedisConnection(bad))
    with pytest.raises(StackSettingsError) as stack_error:
        StackSettings.from_env({"STEPMETRICS_REDIS_URL": bad})
    for text in (str(store_error.value), str(stack_error.value)):
        assert redact(bad) in text
        assert SECRET not in text
    for settings in (
        StoreSettings(redis=RedisConnection(url)),
        ProcessorSettings(redis=RedisConnection(url)),
        StackSettings(redis_url=url),
    ):
        assert SECRET not in repr(settings)


@pytest.mark.parametrize("url", URLS)
def test_up_ready_line_state_and_log_hold_no_password(
    url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    state = StackState(1, "k:1", "t", "t.d", url, None, "tok")
    line = ready_line(state)
    assert SECRET not in line
    assert f"redis={redact(url)} " in line
    assert SECRET not in repr(state)
    launcher = Launcher(StackSettings(redis_url=url, data_dir=tmp_path), Ports())
    with caplog.at_level(logging.INFO):
        assert launcher._redis() == url  # the children still get the real URL
    assert redact(url) in caplog.text
    assert SECRET not in caplog.text


@pytest.mark.parametrize(
    ("settings", "variable", "raw", "shown", "allowed"),
    [(settings, *case) for settings, cases in BAD_VALUES.items() for case in cases],
    ids=lambda value: value.__name__ if isinstance(value, type) else None,
)
def test_every_component_words_a_bad_value_alike_in_its_own_error(
    settings: Any, variable: str, raw: str, shown: object, allowed: str
) -> None:
    """`NAME='value' is not allowed: <allowed>`, the value redacted, as the component's error."""
    environ = {variable: raw}
    if settings in (ApiSettings, ClientSettings):
        environ = {API_TOKEN.name: TOKEN, **environ}
    error, root = ERRORS[settings]
    with pytest.raises(error) as caught:
        settings.from_env(environ)
    assert isinstance(caught.value, ValueError)
    assert isinstance(caught.value, root)
    assert str(caught.value) == bad_value(variable, shown, allowed)
    assert f"{variable}=" in str(caught.value)
    assert f" is not allowed: {allowed}" in str(caught.value)
    assert SECRET not in str(caught.value)
    assert TOKEN not in str(caught.value)
