"""The error root of the step SDK and the event contract."""


class ProducerError(Exception):
    """Root of every error raised by `stepmetrics.producers`."""

    retriable: bool = False


class InvalidMetricError(ProducerError, ValueError):
    """A metric name or value has an allowed type but a forbidden value."""


class InvalidMetricTypeError(ProducerError, TypeError):
    """A metric name or value has a type that is not allowed."""


class EnvelopeError(ProducerError, ValueError):
    """A Kafka message is not a valid envelope of the event contract."""


class SettingsError(ProducerError, ValueError):
    """An environment variable holds a value that is not allowed."""


class StepMetricsWarning(UserWarning):
    """Metrics were not sent: outside a step, buffer full, limit reached, exit."""
