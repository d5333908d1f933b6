"""Settings of the store side: Redis access, the reader API, the query client.

Each class is frozen, built at the edge with `from_env()`, and validated in
`__post_init__`; a bad value raises `StoreSettingsError` naming the variable
and the value. The API token never appears in a `repr`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlsplit

from stepmetrics.envvars import EnvVar, bad_value, read_env
from stepmetrics.store import connection
from stepmetrics.store.connection import RedisConnection
from stepmetrics.store.errors import StoreSettingsError
from stepmetrics.store.keys import DEFAULT_PREFIX, RedisKeys

# The store's variables; the worker and `stepmetrics up` import the ones they share.
REDIS_PREFIX: Final = EnvVar("STEPMETRICS_REDIS_PREFIX", DEFAULT_PREFIX, str, "a key prefix")
API_HOST: Final = EnvVar("STEPMETRICS_API_HOST", "127.0.0.1", str, "a host")
API_PORT: Final = EnvVar("STEPMETRICS_API_PORT", 8080, int, "an integer")
# No default: the API refuses to start without a token (`stepmetrics up` makes one).
API_TOKEN: Final = EnvVar("STEPMETRICS_API_TOKEN", "", str, "a token")
API_URL: Final = EnvVar(
    "STEPMETRICS_API_URL", "http://127.0.0.1:8080", lambda raw: raw.rstrip("/"), "a URL"
)
API_TIMEOUT: Final = EnvVar("STEPMETRICS_API_TIMEOUT", 30.0, float, "a number of seconds")
API_WORKERS: Final = EnvVar("STEPMETRICS_API_WORKERS", 1, int, "an integer")
# Optional: the only token that may delete (and read); unset = deleting is off.
API_ADMIN_TOKEN: Final = EnvVar("STEPMETRICS_API_ADMIN_TOKEN", "", str, "a token")
# How long a deleted execution stays tombstoned (the worker applies nothing to
# it meanwhile): 30 days, longer than Kafka's default topic retention (7 days),
# so neither a late envelope nor a replay of the whole topic brings it back.
TOMBSTONE_SECONDS: Final = EnvVar("STEPMETRICS_TOMBSTONE_SECONDS", 30 * 86_400, int, "an integer")
MAX_TOMBSTONE_SECONDS: Final = 10 * 365 * 86_400

ENV_VARS: Final[frozenset[str]] = connection.ENV_VARS | frozenset(
    var.name
    for var in (
        REDIS_PREFIX,
        API_HOST,
        API_PORT,
        API_TOKEN,
        API_URL,
        API_TIMEOUT,
        API_WORKERS,
        API_ADMIN_TOKEN,
        TOMBSTONE_SECONDS,
    )
)
MAX_API_WORKERS: Final = 64
# Short tokens can be guessed; `stepmetrics up` generates 32+ characters.
MIN_TOKEN_LENGTH: Final = 8


def _bad(var: EnvVar[Any], value: object, allowed: str) -> StoreSettingsError:
    return StoreSettingsError(bad_value(var.name, value, allowed))


@dataclass(frozen=True, slots=True)
class StoreSettings:
    """Where the data lives: how to reach Redis and the key prefix."""

    redis: RedisConnection = field(default_factory=RedisConnection)
    redis_prefix: str = REDIS_PREFIX.default
    # How long a deleted execution's tombstone lasts (deletes by the API and retention).
    tombstone_seconds: int = TOMBSTONE_SECONDS.default

    def __post_init__(self) -> None:
        try:
            RedisKeys(self.redis_prefix)
        except ValueError as exc:
            raise _bad(REDIS_PREFIX, self.redis_prefix, str(exc)) from exc
        if not 1 <= self.tombstone_seconds <= MAX_TOMBSTONE_SECONDS:
            raise _bad(
                TOMBSTONE_SECONDS,
                self.tombstone_seconds,
                f"seconds 1..{MAX_TOMBSTONE_SECONDS} (10 years); keep it longer than the "
                "topic's retention",
            )

    @property
    def keys(self) -> RedisKeys:
        """The key builder for this prefix."""
        return RedisKeys(self.redis_prefix)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> StoreSettings:
        return cls(redis=RedisConnection.from_env(environ), **_read(_STORE_ENV, environ))


@dataclass(frozen=True, slots=True)
class ApiSettings:
    """The reader API server: where it listens, its token and its store."""

    token: str = field(repr=False)
    host: str = API_HOST.default
    port: int = API_PORT.default
    store: StoreSettings = field(default_factory=StoreSettings)
    # Server processes (uvicorn workers); more than one uses more cores.
    workers: int = API_WORKERS.default
    # The token that may delete (and read); "" = deleting is off.
    admin_token: str = field(default="", repr=False)

    def __post_init__(self) -> None:
        _check_token(self.token)
        if self.admin_token:
            _check_token(self.admin_token, API_ADMIN_TOKEN)
            if self.admin_token == self.token:
                raise StoreSettingsError(
                    f"{API_ADMIN_TOKEN.name} is not allowed: it must differ from "
                    f"{API_TOKEN.name} (the read token must not be able to delete)"
                )
        if not 1 <= self.workers <= MAX_API_WORKERS:
            raise _bad(API_WORKERS, self.workers, f"an integer 1..{MAX_API_WORKERS}")
        if not self.host or any(c.isspace() for c in self.host):
            raise _bad(API_HOST, self.host, "a host name or IP address")
        if not 0 <= self.port <= 65535:
            raise _bad(API_PORT, self.port, "a TCP port 0..65535")

    @property
    def deleting(self) -> bool:
        """Deleting is on: an admin token is configured."""
        return bool(self.admin_token)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> ApiSettings:
        token = _token(environ, "the reader API refuses to start without a token")
        store = StoreSettings.from_env(environ)
        return cls(token=token, store=store, **_read(_API_ENV, environ))


@dataclass(frozen=True, slots=True)
class ClientSettings:
    """How the query library reaches the reader API."""

    token: str = field(repr=False)
    api_url: str = API_URL.default
    timeout: float = API_TIMEOUT.default

    def __post_init__(self) -> None:
        _check_token(self.token)
        parts = urlsplit(self.api_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise _bad(API_URL, self.api_url, "an http:// or https:// URL")
        if not 0 < self.timeout <= 3600:
            raise _bad(API_TIMEOUT, self.timeout, "seconds in (0, 3600]")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> ClientSettings:
        token = _token(environ, "the query library needs the reader API's token")
        return cls(token=token, **_read(_CLIENT_ENV, environ))

    @classmethod
    def admin_from_env(cls, environ: Mapping[str, str] = os.environ) -> ClientSettings:
        """Like `from_env`, with the admin token (`STEPMETRICS_API_ADMIN_TOKEN`):
        for deleting."""
        token = environ.get(API_ADMIN_TOKEN.name, "")
        if not token:
            raise StoreSettingsError(
                f"{API_ADMIN_TOKEN.name} is not set: deleting needs the reader API's admin "
                "token (`stepmetrics up` generates one, `stepmetrics env` prints it)"
            )
        _check_token(token, API_ADMIN_TOKEN)
        return cls(token=token, **_read(_CLIENT_ENV, environ))


# field -> variable, per class
_STORE_ENV: Final[dict[str, EnvVar[Any]]] = {
    "redis_prefix": REDIS_PREFIX,
    "tombstone_seconds": TOMBSTONE_SECONDS,
}
_API_ENV: Final[dict[str, EnvVar[Any]]] = {
    "host": API_HOST,
    "port": API_PORT,
    "workers": API_WORKERS,
    "admin_token": API_ADMIN_TOKEN,
}
_CLIENT_ENV: Final[dict[str, EnvVar[Any]]] = {"api_url": API_URL, "timeout": API_TIMEOUT}


def _read(table: Mapping[str, EnvVar[Any]], environ: Mapping[str, str]) -> dict[str, Any]:
    return read_env(table, environ, StoreSettingsError)


def _token(environ: Mapping[str, str], why: str) -> str:
    token = environ.get(API_TOKEN.name, API_TOKEN.default)
    if not token:
        raise StoreSettingsError(
            f"{API_TOKEN.name} is not set: {why} (`stepmetrics up` generates one, "
            "`stepmetrics env` prints it)"
        )
    return token


def _check_token(token: str, var: EnvVar[str] = API_TOKEN) -> None:
    if len(token) < MIN_TOKEN_LENGTH or token != token.strip():
        # Never echo a token, not even a bad one.
        raise StoreSettingsError(
            f"{var.name} is not allowed: it must be at least {MIN_TOKEN_LENGTH} "
            "characters without surrounding whitespace"
        )
