"""Producer settings from the environment, and the step context."""

from __future__ import annotations

import asyncio
import threading

import pytest

from stepmetrics.producers import context as ctxmod
from stepmetrics.producers import settings as setmod
from stepmetrics.producers.context import (
    StepContext,
    programmatic_step,
    step_context,
    step_from_env,
)
from stepmetrics.producers.errors import InvalidMetricError, SettingsError
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
        "STEPMETRICS_COMPRESSION": "GZIP",
        "STEPMETRICS_ACKS": "ALL",
        "STEPMETRICS_ENABLE_IDEMPOTENCE": "true",
        "STEPMETRICS_REQUEST_TIMEOUT_MS": "5000",
        "STEPMETRICS_RETRY_BACKOFF_MAX": "0.5",
    }
    assert set(env) == setmod.ENV_VARS - ctxmod.ENV_VARS
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
        compression="gzip",
        acks="all",
        enable_idempotence=True,
        request_timeout_ms=5000,
        retry_backoff_max=0.5,
    )


@pytest.mark.parametrize(
    ("var", "raw"),
    [
        ("STEPMETRICS_FLUSH_TIMEOUT", "soon"),
        ("STEPMETRICS_FLUSH_TIMEOUT", "-1"),
        ("STEPMETRICS_FLUSH_TIMEOUT", "nan"),
        ("STEPMETRICS_BUFFER_VALUES", "0"),
        ("STEPMETRICS_BUFFER_VALUES", "1.5"),
        ("STEPMETRICS_BATCH_MAX_BYTES", "2000000"),
        ("STEPMETRICS_COMPRESSION", "brotli"),
        ("STEPMETRICS_ACKS", "0"),
        ("STEPMETRICS_ENABLE_IDEMPOTENCE", "maybe"),
        ("STEPMETRICS_TOPIC", " "),
    ],
)
def test_bad_values_name_variable_and_value(var: str, raw: str) -> None:
    with pytest.raises(SettingsError) as info:
        ProducerSettings.from_env({var: raw})
    message = str(info.value)
    assert var in message
    shown = raw.strip().lower()
    assert repr(raw) in message or (shown and shown in message.lower())
    assert isinstance(info.value, ValueError)


def test_idempotence_needs_acks_all() -> None:
    assert ProducerSettings.from_env({"STEPMETRICS_ENABLE_IDEMPOTENCE": "1"}).enable_idempotence
    with pytest.raises(SettingsError, match="STEPMETRICS_ENABLE_IDEMPOTENCE=True"):
        ProducerSettings.from_env(
            {"STEPMETRICS_ENABLE_IDEMPOTENCE": "yes", "STEPMETRICS_ACKS": "1"}
        )


def test_step_from_env() -> None:
    assert step_from_env({}) is None
    assert step_from_env({"STEPMETRICS_EXECUTION_ID": ""}) is None
    env = {"STEPMETRICS_EXECUTION_ID": "e1", "STEPMETRICS_PIPELINE_NAME": "p"}
    assert step_from_env(env) == StepContext("e1", "p", None)
    env["STEPMETRICS_DEPLOYMENT_NAME"] = "d"
    assert step_from_env(env) == StepContext("e1", "p", "d")
    assert {
        "STEPMETRICS_EXECUTION_ID",
        "STEPMETRICS_PIPELINE_NAME",
        "STEPMETRICS_DEPLOYMENT_NAME",
    } == ctxmod.ENV_VARS
    assert ctxmod.ENV_VARS <= setmod.ENV_VARS


def test_step_env_without_pipeline_is_an_error() -> None:
    with pytest.raises(SettingsError, match="STEPMETRICS_PIPELINE_NAME"):
        step_from_env({"STEPMETRICS_EXECUTION_ID": "e1"})
    with pytest.raises(SettingsError, match="control characters"):
        step_from_env({"STEPMETRICS_EXECUTION_ID": "e\n1", "STEPMETRICS_PIPELINE_NAME": "p"})


def test_step_context_nests_and_resets() -> None:
    assert programmatic_step() is None
    with step_context("outer", "p") as outer:
        assert programmatic_step() == outer == StepContext("outer", "p")
        with step_context("inner", "p", "dep"):
            assert programmatic_step() == StepContext("inner", "p", "dep")
        assert programmatic_step() is outer
    assert programmatic_step() is None


def test_step_context_validates() -> None:
    with pytest.raises(InvalidMetricError, match="execution_id=''"), step_context("", "p"):
        pass


def test_step_context_follows_tasks_not_new_threads() -> None:
    seen: list[object] = []

    async def task() -> None:
        seen.append(programmatic_step())

    async def main() -> None:
        with step_context("e1", "p"):
            await asyncio.create_task(task())

    asyncio.run(main())
    with step_context("e2", "p"):
        thread = threading.Thread(target=lambda: seen.append(programmatic_step()))
        thread.start()
        thread.join()
    assert seen == [StepContext("e1", "p"), None]
