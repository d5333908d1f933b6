"""The error root of `stepmetrics.processors` (the stream worker)."""


class ProcessorError(Exception):
    """Root of every error raised by `stepmetrics.processors`."""

    retriable: bool = False


class ProcessorSettingsError(ProcessorError, ValueError):
    """An environment variable holds a value that is not allowed."""


class TopicSetupError(ProcessorError):
    """The worker's topics could not be checked or created on the broker."""

    retriable = True


class RedisUnavailableError(ProcessorError):
    """Redis cannot be reached or cannot write yet; nothing is lost by retrying."""

    retriable = True


class WriteRejectedError(ProcessorError):
    """Redis rejected a write for a reason a retry will not fix."""


class MetricsServerError(ProcessorError):
    """The worker's `/metrics` address cannot be bound."""
