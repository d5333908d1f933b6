"""The error root of `stepmetrics.store` (write model, queries, reader API)."""


class StoreError(Exception):
    """Root of every error raised by `stepmetrics.store`."""

    retriable: bool = False


class StoreSettingsError(StoreError, ValueError):
    """An environment variable holds a value that is not allowed."""


class StoreUnavailableError(StoreError):
    """Redis (or the reader API) could not be reached; a retry may help."""

    retriable = True
