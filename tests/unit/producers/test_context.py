"""The step context: from the environment, nested, per task."""

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
