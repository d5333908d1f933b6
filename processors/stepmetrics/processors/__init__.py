"""The stream worker: consumes the metrics topic and applies it to Redis."""

from stepmetrics.processors.errors import ProcessorError, ProcessorSettingsError, TopicSetupError
from stepmetrics.processors.settings import ENV_VARS, ProcessorSettings

__all__ = [
    "ENV_VARS",
    "ProcessorError",
    "ProcessorSettings",
    "ProcessorSettingsError",
    "TopicSetupError",
]
