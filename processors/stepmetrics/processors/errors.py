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


class BatchRefusedError(ProcessorError):
    """A compressed record batch was refused before its records were materialised."""

    def __init__(self, codec: str, compressed_bytes: int, detail: str) -> None:
        super().__init__(f"{codec} batch of {compressed_bytes} compressed bytes {detail}")
        self.codec = codec
        self.compressed_bytes = compressed_bytes


class InflatesPastLimitError(BatchRefusedError, ValueError):
    """A compressed record batch inflates past the worker's limit."""

    def __init__(self, codec: str, compressed_bytes: int, limit: int) -> None:
        super().__init__(
            codec,
            compressed_bytes,
            f"inflates past {limit} bytes (STEPMETRICS_MAX_BATCH_INFLATED_BYTES)",
        )
        self.limit = limit


class UndecodableBatchError(BatchRefusedError, ValueError):
    """A compressed record batch's data is not valid for its codec."""

    def __init__(self, codec: str, compressed_bytes: int, problem: str) -> None:
        super().__init__(codec, compressed_bytes, f"cannot be decompressed: {problem[:200]}")


class FetchGuardError(ProcessorError):
    """aiokafka's internals are not what the inflate guard was written for."""
