"""Which step execution the current code runs in.

Two sources, the first that answers wins:

1. a programmatic `step_context(...)` (a `contextvars` context manager, for
   orchestrators and tests; it follows asyncio tasks, not new threads);
2. the step's environment: `STEPMETRICS_EXECUTION_ID`,
   `STEPMETRICS_PIPELINE_NAME` and optionally `STEPMETRICS_DEPLOYMENT_NAME`.

No execution id means "outside a step": nothing is recorded.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Final

from stepmetrics.producers.errors import InvalidMetricError, SettingsError
from stepmetrics.producers.events import check_id

EXECUTION_ID_VAR: Final = "STEPMETRICS_EXECUTION_ID"
PIPELINE_NAME_VAR: Final = "STEPMETRICS_PIPELINE_NAME"
DEPLOYMENT_NAME_VAR: Final = "STEPMETRICS_DEPLOYMENT_NAME"
ENV_VARS: Final[frozenset[str]] = frozenset(
    {EXECUTION_ID_VAR, PIPELINE_NAME_VAR, DEPLOYMENT_NAME_VAR}
)

_CURRENT: ContextVar[StepContext | None] = ContextVar("stepmetrics_step", default=None)


@dataclass(frozen=True, slots=True)
class StepContext:
    """The execution that recorded metrics belong to.

    Raises:
        InvalidMetricError: an id is empty, too long or has control characters.
    """

    execution_id: str
    pipeline_name: str
    deployment_name: str | None = None

    def __post_init__(self) -> None:
        _check_id("execution_id", self.execution_id)
        _check_id("pipeline_name", self.pipeline_name)
        if self.deployment_name is not None:
            _check_id("deployment_name", self.deployment_name)


def _check_id(field: str, value: object) -> None:
    problem = check_id(field, value)
    if problem:
        raise InvalidMetricError(problem)


@contextmanager
def step_context(
    execution_id: str, pipeline_name: str, deployment_name: str | None = None
) -> Iterator[StepContext]:
    """Record metrics of the code inside the `with` block for this execution.

    Nests, and takes precedence over the environment. Like any `contextvars`
    value it is seen by asyncio tasks created inside the block, not by threads
    started inside it (pass `contextvars.copy_context().run` to them).

    Example:
        >>> with step_context("exec-42", "train"):
        ...     CraftAiSdk().record_metric_value("accuracy", 0.93)
    """
    token = _CURRENT.set(StepContext(execution_id, pipeline_name, deployment_name))
    try:
        yield _CURRENT.get()  # type: ignore[misc]
    finally:
        _CURRENT.reset(token)


# The innermost active `step_context`, or None: a bound C method, so the hot
# path pays no Python frame for it.
programmatic_step: Final[Callable[[], StepContext | None]] = _CURRENT.get


def step_from_env(environ: Mapping[str, str] = os.environ) -> StepContext | None:
    """The step described by the environment, or None outside a step.

    Raises:
        SettingsError: the execution id is set but the pipeline name is not, or
            a value is not allowed (the message names the variable and value).
    """
    execution_id = environ.get(EXECUTION_ID_VAR, "")
    if not execution_id:
        return None
    pipeline_name = environ.get(PIPELINE_NAME_VAR, "")
    if not pipeline_name:
        raise SettingsError(
            f"{EXECUTION_ID_VAR}={execution_id!r} is set but {PIPELINE_NAME_VAR} is "
            f"{pipeline_name!r}; a step needs both"
        )
    deployment_name = environ.get(DEPLOYMENT_NAME_VAR) or None
    try:
        return StepContext(execution_id, pipeline_name, deployment_name)
    except InvalidMetricError as exc:
        raise SettingsError(f"the step environment is not allowed: {exc}") from exc
