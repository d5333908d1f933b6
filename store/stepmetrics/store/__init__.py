"""The Redis model, the query library, the reader API and the web interface.

Importing this package loads only the query side (orjson, httpx), so notebooks
and scripts with the base install can use `MetricsClient`. The reader
(`stepmetrics.store.reader`) and the API (`stepmetrics.store.api`) need the
`api` extra. The write model is the processor's (`stepmetrics.processors.writes`).
"""

from stepmetrics.store.client import AsyncMetricsClient, MetricsClient
from stepmetrics.store.errors import (
    ApiAuthError,
    ApiError,
    ApiUnavailableError,
    StoreError,
    StoreQueryError,
    StoreSettingsError,
    StoreUnavailableError,
)
from stepmetrics.store.keys import RedisKeys
from stepmetrics.store.settings import ClientSettings

__all__ = [
    "ApiAuthError",
    "ApiError",
    "ApiUnavailableError",
    "AsyncMetricsClient",
    "ClientSettings",
    "MetricsClient",
    "RedisKeys",
    "StoreError",
    "StoreQueryError",
    "StoreSettingsError",
    "StoreUnavailableError",
]
