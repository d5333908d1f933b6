"""Worker settings from the environment, and the dead-letter helpers."""

from __future__ import annotations

import pytest

from stepmetrics.processors import ENV_VARS, ProcessorSettings, ProcessorSettingsError
from stepmetrics.processors.deadletter import (
    MAX_DEAD_LETTER_BYTES,
    DeadLetter,
    RateLimiter,
    RawMessage,
)
from stepmetrics.processors.handler import MAX_ROUND_TRIP_BYTES, _chunks


def test_defaults_follow_the_documented_names() -> None:
    settings = ProcessorSettings.from_env({})
    assert settings.kafka_bootstrap == "127.0.0.1:9092"
    assert settings.topic == "stepmetrics.events"
    assert settings.deadletter_topic == "stepmetrics.events.deadletter"
    assert settings.redis_url == "redis://127.0.0.1:6379/0"
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
    }
    settings = ProcessorSettings.from_env(env)
    assert set(env) <= ENV_VARS
    assert (settings.topic, settings.deadletter_topic) == ("t", "t.deadletter")
    assert (settings.topic_partitions, settings.batch_size, settings.batch_within) == (8, 7, 0.5)
    assert (settings.session_timeout, settings.log_level, settings.group_id) == (4.0, "debug", "g")
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
    ],
)
def test_bad_values_name_the_variable_and_the_value(variable: str, value: str) -> None:
    with pytest.raises(ProcessorSettingsError) as caught:
        ProcessorSettings.from_env({variable: value})
    assert variable in str(caught.value)
    assert isinstance(caught.value, ValueError)
    if "PREFIX" not in variable:
        assert repr(value) in str(caught.value) or value in str(caught.value)


def test_dead_letter_headers_keep_originals_and_add_reason_and_source() -> None:
    message = RawMessage("t", 3, 41, b"k", b"junk", (("trace", b"1"),))
    headers = dict(DeadLetter(message, "not JSON").headers())
    assert headers == {
        "trace": b"1",
        "stepmetrics-reason": b"not JSON",
        "stepmetrics-source-topic": b"t",
        "stepmetrics-source-partition": b"3",
        "stepmetrics-source-offset": b"41",
    }


def test_oversized_dead_letters_keep_only_their_head() -> None:
    message = RawMessage("t", 0, 1, None, b"x" * (MAX_DEAD_LETTER_BYTES + 5))
    letter = DeadLetter(message, "too big")
    assert letter.value == b"x" * MAX_DEAD_LETTER_BYTES
    assert dict(letter.headers())["stepmetrics-original-size"] == b"900005"
    assert DeadLetter(RawMessage("t", 0, 1, None, None), "empty").value is None


def test_rate_limiter_counts_what_it_suppressed() -> None:
    limiter = RateLimiter(interval=3600)
    assert limiter.allow() == (True, 0)
    assert limiter.allow() == (False, 0)
    assert limiter.allow() == (False, 0)
    limiter._next = 0.0
    assert limiter.allow() == (True, 2)


def test_batches_split_into_round_trips_by_size() -> None:
    big = MAX_ROUND_TRIP_BYTES // 2 + 1
    messages = [RawMessage("t", 0, i, None, b"x" * big) for i in range(5)]
    chunks = _chunks(messages)
    assert [len(c) for c in chunks] == [1, 1, 1, 1, 1]
    small = [RawMessage("t", 0, i, None, b"x") for i in range(5)]
    assert [len(c) for c in _chunks(small)] == [5]


def test_fetch_wait_defaults_short_and_is_validated() -> None:
    assert ProcessorSettings.from_env({}).fetch_max_wait == 0.1
    assert (
        ProcessorSettings.from_env({"STEPMETRICS_KAFKA_FETCH_MAX_WAIT": "0.5"}).fetch_max_wait
        == 0.5
    )
    with pytest.raises(ProcessorSettingsError, match="STEPMETRICS_KAFKA_FETCH_MAX_WAIT"):
        ProcessorSettings.from_env({"STEPMETRICS_KAFKA_FETCH_MAX_WAIT": "0"})


def test_the_worker_transport_is_registered_with_faust() -> None:
    from faust.transport.drivers import by_url

    from stepmetrics.processors.transport import SCHEME, Transport

    assert by_url(f"{SCHEME}://127.0.0.1:9092") is Transport
