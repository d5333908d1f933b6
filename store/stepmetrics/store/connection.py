"""How every component reaches Redis: the URL, TLS files, cluster mode; one client factory.

The worker, the reader API and `stepmetrics up` read the same variables and
build their client with `RedisConnection.connect()`, the one place that turns
settings into a redis-py client: `redis.asyncio.Redis` for one server,
`redis.asyncio.cluster.RedisCluster` when `STEPMETRICS_REDIS_CLUSTER=true` (the
URL names any seed node). ACL users come with the URL
(`redis://user:password@host:port/0`); TLS with `rediss://` and the CA,
certificate and key files. The password never appears in a `repr`, a log line
or an error message: `redact()` masks it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TypeAlias
from urllib.parse import urlsplit

from stepmetrics.envvars import EnvVar, bad_value, read_env, redact
from stepmetrics.store.errors import StoreSettingsError

if TYPE_CHECKING:  # redis-py is the `api`/`processor` extra; the query side must not need it
    import redis.asyncio as aioredis
    from redis.asyncio.cluster import RedisCluster

RedisClient: TypeAlias = "aioredis.Redis | RedisCluster"

_TRUE: Final = ("1", "true", "yes", "on")
_FALSE: Final = ("0", "false", "no", "off")


def parse_bool(raw: str) -> bool:
    """`true`/`false` (also 1/0, yes/no, on/off), any case."""
    text = raw.strip().lower()
    if text not in (*_TRUE, *_FALSE):
        raise ValueError(raw)
    return text in _TRUE


REDIS_URL: Final = EnvVar("STEPMETRICS_REDIS_URL", "redis://127.0.0.1:6379/0", str.strip, "a URL")
REDIS_CLUSTER: Final = EnvVar("STEPMETRICS_REDIS_CLUSTER", False, parse_bool, "true or false")
REDIS_SSL_CAFILE: Final = EnvVar("STEPMETRICS_REDIS_SSL_CAFILE", "", str.strip, "a file")
REDIS_SSL_CERTFILE: Final = EnvVar("STEPMETRICS_REDIS_SSL_CERTFILE", "", str.strip, "a file")
REDIS_SSL_KEYFILE: Final = EnvVar("STEPMETRICS_REDIS_SSL_KEYFILE", "", str.strip, "a file")
REDIS_SCHEMES: Final = ("redis", "rediss", "unix")
# What an ACL user needs on top of its component's commands in cluster mode:
# redis-py's cluster client reads the slot map when it connects and whenever a
# slot moves (docs/deployment.md).
CLUSTER_ACL_COMMANDS: Final = ("+cluster|slots", "+command")
# field -> variable
_ENV: Final[dict[str, EnvVar[Any]]] = {
    "url": REDIS_URL,
    "cluster": REDIS_CLUSTER,
    "ssl_cafile": REDIS_SSL_CAFILE,
    "ssl_certfile": REDIS_SSL_CERTFILE,
    "ssl_keyfile": REDIS_SSL_KEYFILE,
}
ENV_VARS: Final[frozenset[str]] = frozenset(var.name for var in _ENV.values())


@dataclass(frozen=True, slots=True, repr=False)
class RedisConnection:
    """Where Redis is and how to talk to it (TLS, cluster); see the module doc."""

    url: str = REDIS_URL.default
    cluster: bool = False
    ssl_cafile: str = ""
    ssl_certfile: str = ""
    ssl_keyfile: str = ""

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in REDIS_SCHEMES or not (parts.hostname or parts.path):
            raise _bad(
                REDIS_URL,
                redact(self.url),
                "redis://[user:password@]host:port/db, rediss://... (TLS) or unix:///path",
            )
        if self.cluster and (parts.scheme == "unix" or parts.path not in ("", "/", "/0")):
            raise _bad(
                REDIS_URL,
                redact(self.url),
                "a redis:// or rediss:// seed node with database 0 (a cluster has no other) "
                f"when {REDIS_CLUSTER.name}=true",
            )
        for var, path in self._tls_files():
            if parts.scheme != "rediss":
                raise _bad(var, path, f"only with a rediss:// {REDIS_URL.name}")
            if not os.access(path, os.R_OK) or not Path(path).is_file():
                raise _bad(var, path, "a readable file")
        if self.ssl_keyfile and not self.ssl_certfile:
            raise _bad(REDIS_SSL_KEYFILE, self.ssl_keyfile, f"only with {REDIS_SSL_CERTFILE.name}")

    def __repr__(self) -> str:
        return (
            f"RedisConnection(url={redact(self.url)!r}, cluster={self.cluster}, "
            f"ssl_cafile={self.ssl_cafile!r}, ssl_certfile={self.ssl_certfile!r}, "
            f"ssl_keyfile={self.ssl_keyfile!r})"
        )

    @property
    def redacted_url(self) -> str:
        """The URL without its password, for logs."""
        return redact(self.url)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> RedisConnection:
        """Read the `STEPMETRICS_REDIS_*` connection variables; unset or empty = default."""
        return cls(**read_env(_ENV, environ, StoreSettingsError))

    def connect(self, *, timeout: float, connect_timeout: float | None = None) -> RedisClient:
        """A new client (the caller closes it).

        Args:
            timeout: seconds each reply may take.
            connect_timeout: seconds connecting may take (default: `timeout`).
        """
        options: dict[str, Any] = {
            "socket_timeout": timeout,
            "socket_connect_timeout": timeout if connect_timeout is None else connect_timeout,
        }
        if self.ssl_cafile:
            options["ssl_ca_certs"] = self.ssl_cafile
        if self.ssl_certfile:
            options["ssl_certfile"] = self.ssl_certfile
            options["ssl_keyfile"] = self.ssl_keyfile or None
        import redis.asyncio as aioredis
        from redis.asyncio.cluster import RedisCluster

        if self.cluster:
            return RedisCluster.from_url(self.url, **options)
        return aioredis.Redis.from_url(self.url, **options)

    def _tls_files(self) -> list[tuple[EnvVar[Any], str]]:
        files = (
            (REDIS_SSL_CAFILE, self.ssl_cafile),
            (REDIS_SSL_CERTFILE, self.ssl_certfile),
            (REDIS_SSL_KEYFILE, self.ssl_keyfile),
        )
        return [(var, path) for var, path in files if path]


def _bad(var: EnvVar[Any], value: object, allowed: str) -> StoreSettingsError:
    return StoreSettingsError(bad_value(var.name, value, allowed))
