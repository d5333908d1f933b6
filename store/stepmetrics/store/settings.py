"""Settings of the store side: Redis access, the reader API, the query client.

Each class is frozen, built at the edge with `from_env()`, and validated in
`__post_init__`; a bad value raises `StoreSettingsError` naming the variable
and the value. The API token never appears in a `repr`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import urlsplit

from stepmetrics.store.errors import StoreSettingsError
from stepmetrics.store.keys import DEFAULT_PREFIX, RedisKeys

ENV_REDIS_URL: Final = "STEPMETRICS_REDIS_URL"
ENV_REDIS_PREFIX: Final = "STEPMETRICS_REDIS_PREFIX"
ENV_API_HOST: Final = "STEPMETRICS_API_HOST"
ENV_API_PORT: Final = "STEPMETRICS_API_PORT"
ENV_API_TOKEN: Final = "STEPMETRICS_API_TOKEN"  # noqa: S105 (a variable name)
ENV_API_URL: Final = "STEPMETRICS_API_URL"
ENV_API_TIMEOUT: Final = "STEPMETRICS_API_TIMEOUT"
ENV_API_WORKERS: Final = "STEPMETRICS_API_WORKERS"

ENV_VARS: Final[frozenset[str]] = frozenset(
    {
        ENV_REDIS_URL,
        ENV_REDIS_PREFIX,
        ENV_API_HOST,
        ENV_API_PORT,
        ENV_API_TOKEN,
        ENV_API_URL,
        ENV_API_TIMEOUT,
        ENV_API_WORKERS,
    }
)

DEFAULT_REDIS_URL: Final = "redis://127.0.0.1:6379/0"
DEFAULT_API_HOST: Final = "127.0.0.1"
DEFAULT_API_PORT: Final = 8080
DEFAULT_API_URL: Final = "http://127.0.0.1:8080"
DEFAULT_API_TIMEOUT: Final = 30.0
MAX_API_WORKERS: Final = 64
# Short tokens can be guessed; `stepmetrics up` generates 32+ characters.
MIN_TOKEN_LENGTH: Final = 8


def _bad(variable: str, value: object, allowed: str) -> StoreSettingsError:
    return StoreSettingsError(f"{variable}={value!r} is not allowed: {allowed}")


@dataclass(frozen=True, slots=True)
class StoreSettings:
    """Where the data lives: a Redis URL and the key prefix."""

    redis_url: str = DEFAULT_REDIS_URL
    redis_prefix: str = DEFAULT_PREFIX

    def __post_init__(self) -> None:
        if urlsplit(self.redis_url).scheme not in ("redis", "rediss", "unix"):
            raise _bad(ENV_REDIS_URL, self.redis_url, "a redis://, rediss:// or unix:// URL")
        try:
            RedisKeys(self.redis_prefix)
        except ValueError as exc:
            raise _bad(ENV_REDIS_PREFIX, self.redis_prefix, str(exc)) from exc

    @property
    def keys(self) -> RedisKeys:
        """The key builder for this prefix."""
        return RedisKeys(self.redis_prefix)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> StoreSettings:
        return cls(
            redis_url=environ.get(ENV_REDIS_URL) or DEFAULT_REDIS_URL,
            redis_prefix=environ.get(ENV_REDIS_PREFIX) or DEFAULT_PREFIX,
        )


def _check_token(token: str) -> None:
    if len(token) < MIN_TOKEN_LENGTH or token != token.strip():
        # Never echo a token, not even a bad one.
        raise StoreSettingsError(
            f"{ENV_API_TOKEN} is not allowed: it must be at least {MIN_TOKEN_LENGTH} "
            "characters without surrounding whitespace"
        )


@dataclass(frozen=True, slots=True)
class ApiSettings:
    """The reader API server: where it listens, its token and its store."""

    token: str = field(repr=False)
    host: str = DEFAULT_API_HOST
    port: int = DEFAULT_API_PORT
    store: StoreSettings = field(default_factory=StoreSettings)
    # Server processes (uvicorn workers); more than one uses more cores.
    workers: int = 1

    def __post_init__(self) -> None:
        _check_token(self.token)
        if not 1 <= self.workers <= MAX_API_WORKERS:
            raise _bad(ENV_API_WORKERS, self.workers, f"an integer 1..{MAX_API_WORKERS}")
        if not self.host or any(c.isspace() for c in self.host):
            raise _bad(ENV_API_HOST, self.host, "a host name or IP address")
        if not 0 <= self.port <= 65535:
            raise _bad(ENV_API_PORT, self.port, "a TCP port 0..65535")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> ApiSettings:
        token = environ.get(ENV_API_TOKEN, "")
        if not token:
            raise StoreSettingsError(
                f"{ENV_API_TOKEN} is not set: the reader API refuses to start without a "
                "token (`stepmetrics up` generates one)"
            )
        return cls(
            token=token,
            host=environ.get(ENV_API_HOST) or DEFAULT_API_HOST,
            port=_parse_int(environ, ENV_API_PORT, DEFAULT_API_PORT),
            store=StoreSettings.from_env(environ),
            workers=_parse_int(environ, ENV_API_WORKERS, 1),
        )


@dataclass(frozen=True, slots=True)
class ClientSettings:
    """How the query library reaches the reader API."""

    token: str = field(repr=False)
    api_url: str = DEFAULT_API_URL
    timeout: float = DEFAULT_API_TIMEOUT

    def __post_init__(self) -> None:
        _check_token(self.token)
        parts = urlsplit(self.api_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise _bad(ENV_API_URL, self.api_url, "an http:// or https:// URL")
        if not 0 < self.timeout <= 3600:
            raise _bad(ENV_API_TIMEOUT, self.timeout, "seconds in (0, 3600]")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> ClientSettings:
        token = environ.get(ENV_API_TOKEN, "")
        if not token:
            raise StoreSettingsError(
                f"{ENV_API_TOKEN} is not set: the query library needs the reader API's "
                "token (`stepmetrics env` prints it for the local stack)"
            )
        raw_timeout = environ.get(ENV_API_TIMEOUT) or str(DEFAULT_API_TIMEOUT)
        try:
            timeout = float(raw_timeout)
        except ValueError as exc:
            raise _bad(ENV_API_TIMEOUT, raw_timeout, "a number of seconds") from exc
        return cls(
            token=token,
            api_url=(environ.get(ENV_API_URL) or DEFAULT_API_URL).rstrip("/"),
            timeout=timeout,
        )


def _parse_int(environ: Mapping[str, str], variable: str, default: int) -> int:
    raw = environ.get(variable)
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise _bad(variable, raw, "an integer") from exc
