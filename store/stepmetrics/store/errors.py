"""The error root of `stepmetrics.store` (write model, queries, reader API)."""


class StoreError(Exception):
    """Root of every error raised by `stepmetrics.store`."""

    retriable: bool = False


class StoreSettingsError(StoreError, ValueError):
    """An environment variable holds a value that is not allowed."""


class StoreUnavailableError(StoreError):
    """Redis (or the reader API) could not be reached; a retry may help."""

    retriable = True


class StoreQueryError(StoreError, ValueError):
    """A query is not valid: a bad filter, limit, cursor or parameter."""


class ApiError(StoreError):
    """The reader API answered with an error status (see `status`)."""

    def __init__(self, message: str, *, url: str, status: int) -> None:
        super().__init__(message)
        self.url = url
        self.status = status
        # Server-side trouble (5xx) and rate limits may pass; a bad request will not.
        self.retriable = status >= 500 or status == 429


class ApiAuthError(ApiError):
    """The reader API refused the token (HTTP 401)."""


class ApiUnavailableError(StoreUnavailableError):
    """The reader API could not be reached at `url`; a retry may help."""

    def __init__(self, message: str, *, url: str) -> None:
        super().__init__(message)
        self.url = url
