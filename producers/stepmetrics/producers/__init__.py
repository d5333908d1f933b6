"""The step SDK: record metrics from step code, delivered through Kafka.

Users call `stepmetrics.sdk.CraftAiSdk`; this package holds its parts and the
event contract (`events`).
"""

from stepmetrics.producers.context import StepContext, step_context
from stepmetrics.producers.errors import (
    InvalidMetricError,
    InvalidMetricTypeError,
    ProducerError,
    SettingsError,
    StepMetricsWarning,
)
from stepmetrics.producers.recorder import ProducerStats, Recorder, get_recorder
from stepmetrics.producers.settings import ProducerSettings

__all__ = [
    "InvalidMetricError",
    "InvalidMetricTypeError",
    "ProducerError",
    "ProducerSettings",
    "ProducerStats",
    "Recorder",
    "SettingsError",
    "StepContext",
    "StepMetricsWarning",
    "get_recorder",
    "step_context",
]
