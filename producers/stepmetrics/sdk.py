"""`CraftAiSdk`: the documented metrics API, for step code and for readers.

Step code records with `record_metric_value` / `record_list_metric_values`;
the calls validate, queue and return at once (delivery happens in a background
thread). Readers query with `get_metrics` / `get_list_metrics`, which load the
query library only when called, so a step stays light.

Example (in a step, i.e. with STEPMETRICS_EXECUTION_ID and
STEPMETRICS_PIPELINE_NAME set, or inside `step_context(...)`):
    >>> from stepmetrics.sdk import CraftAiSdk
    >>> sdk = CraftAiSdk()
    >>> sdk.record_metric_value("accuracy", 0.1409)
    True

Outside a step the same call warns at the caller's line and returns False.
"""

from __future__ import annotations

import importlib
import warnings
from typing import Any

from stepmetrics.producers.context import programmatic_step, step_from_env
from stepmetrics.producers.errors import StepMetricsWarning
from stepmetrics.producers.recorder import ProducerStats, Recorder, get_recorder
from stepmetrics.producers.validation import check_metric_name, list_values, scalar_value

__all__ = ["CraftAiSdk"]

_OUTSIDE_STEP = (
    "metric {name!r} has not been sent: not inside a step (set STEPMETRICS_EXECUTION_ID "
    "and STEPMETRICS_PIPELINE_NAME, or use stepmetrics.producers.step_context)"
)


class CraftAiSdk:
    """Record metrics of the current step execution, and query recorded ones.

    The step is the innermost `step_context(...)` if any, else the one the
    environment described when this object was created
    (`STEPMETRICS_EXECUTION_ID`, `STEPMETRICS_PIPELINE_NAME`,
    `STEPMETRICS_DEPLOYMENT_NAME`). Outside a step, recording validates its
    input, warns (pointing at the caller's line) and sends nothing.

    Args:
        recorder: where values go; the process-wide recorder by default.

    Raises:
        SettingsError: the step environment is set but incomplete or invalid.
    """

    def __init__(self, *, recorder: Recorder | None = None) -> None:
        # Creating the recorder reads settings only; its sender starts with
        # the first recorded value.
        self._recorder = recorder if recorder is not None else get_recorder()
        self._env_step = step_from_env()

    @property
    def recorder(self) -> Recorder:
        """Where this object's values go (the process-wide recorder by default)."""
        return self._recorder

    def record_metric_value(self, name: str, value: float) -> bool:
        """Set the metric `name` of this execution to `value` (the last one wins).

        Args:
            name: 1 to 256 characters, no control characters.
            value: an int, float or numpy number; NaN and ±inf are kept.

        Returns:
            True when the value is accepted for delivery; False outside a step
            or when the buffer stayed full (both with a warning).

        Raises:
            InvalidMetricTypeError: the name or value has a type not allowed.
            InvalidMetricError: the name or value is not allowed.
        """
        step = programmatic_step() or self._env_step
        if step is None:
            scalar_value(check_metric_name(name), value)  # bad input fails everywhere
            warnings.warn(_OUTSIDE_STEP.format(name=name), StepMetricsWarning, stacklevel=2)
            return False
        return self._recorder.record_scalar(step, name, value, stacklevel=3)

    def record_list_metric_values(self, name: str, values: Any) -> None:
        """Append `values` (a number, or a list, tuple or 1-D numpy array) to `name`.

        One bad value rejects the whole call before anything is queued. A list
        keeps at most 50,000 values per execution: values beyond are not sent,
        with one warning.

        Raises:
            InvalidMetricTypeError: the name or a value has a type not allowed.
            InvalidMetricError: the name or a value is not allowed.
        """
        step = programmatic_step() or self._env_step
        if step is None:
            list_values(check_metric_name(name), values)
            warnings.warn(_OUTSIDE_STEP.format(name=name), StepMetricsWarning, stacklevel=2)
            return
        self._recorder.record_list(step, name, values, stacklevel=3)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything recorded so far is acknowledged by the broker.

        Args:
            timeout: seconds to wait at most; None waits as long as it takes.

        Returns:
            True if everything was acknowledged in time.
        """
        return self.recorder.flush(timeout)

    def stats(self) -> ProducerStats:
        """Counters of this process: recorded, delivered, dropped, failed, pending."""
        return self.recorder.stats()

    @staticmethod
    def get_metrics(
        name: str | None = None,
        pipeline_name: str | None = None,
        deployment_name: str | None = None,
        execution_id: str | None = None,
    ) -> list[dict[str, Any]]:
        """Scalar metrics as dicts with keys name, value, created_at, execution_id,
        deployment_name, pipeline_name; at most one filter may be set.

        Static, so both `sdk.get_metrics(...)` and the documentation's
        `CraftAiSdk.get_metrics(...)` work. Queries the reader API configured by
        the environment (`stepmetrics.store.client.MetricsClient.from_env()`).
        """
        return _query(
            "get_metrics",
            name=name,
            pipeline_name=pipeline_name,
            deployment_name=deployment_name,
            execution_id=execution_id,
        )

    @staticmethod
    def get_list_metrics(
        name: str | None = None,
        pipeline_name: str | None = None,
        deployment_name: str | None = None,
        execution_id: str | None = None,
    ) -> list[dict[str, Any]]:
        """List metrics, shaped like `get_metrics` with `value` a list of floats."""
        return _query(
            "get_list_metrics",
            name=name,
            pipeline_name=pipeline_name,
            deployment_name=deployment_name,
            execution_id=execution_id,
        )


def _query(method: str, **filters: str | None) -> list[dict[str, Any]]:
    """Run one query on a client built from the environment, then close it.

    Imported on use: recording must not load the query side (httpx, ...).
    """
    module = importlib.import_module("stepmetrics.store.client")
    with module.MetricsClient.from_env() as client:
        result: list[dict[str, Any]] = getattr(client, method)(**filters)
    return result
