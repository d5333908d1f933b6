"""Settings of `stepmetrics up` / `stepmetrics env`, read from the environment."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from stepmetrics.envvars import EnvVar, bad_value, read_env
from stepmetrics.processors.settings import DEADLETTER_SUFFIX, DEADLETTER_TOPIC, TOPIC_PARTITIONS
from stepmetrics.producers.errors import SettingsError
from stepmetrics.producers.security import ENV_VARS as KAFKA_SECURITY_ENV_VARS
from stepmetrics.producers.security import SECURITY_PROTOCOL, KafkaSecurity
from stepmetrics.producers.settings import BOOTSTRAP, TOPIC
from stepmetrics.stack.errors import StackSettingsError
from stepmetrics.store.connection import REDIS_URL, RedisConnection
from stepmetrics.store.errors import StoreSettingsError
from stepmetrics.store.settings import API_ADMIN_TOKEN, API_TOKEN

# The stack's own variables. The others belong to the component that reads
# them too (SDK, worker, store); here they get the stack's defaults: no
# Kafka or Redis means `up` starts its own, no token means it makes one.
DATA_DIR: Final = EnvVar("STEPMETRICS_DATA_DIR", Path(".stepmetrics"), Path, "a directory")
STARTUP_TIMEOUT: Final = EnvVar("STEPMETRICS_STARTUP_TIMEOUT", 60.0, float, "a number")
# Read by stepmetrics.stack.services.broker_binary().
BROKER_BIN: Final = EnvVar("STEPMETRICS_BROKER_BIN", None, Path, "a path")
_EXTERNAL_KAFKA: Final[EnvVar[str | None]] = EnvVar(BOOTSTRAP.name, None, str, "host:port")
_EXTERNAL_REDIS: Final[EnvVar[str | None]] = EnvVar(REDIS_URL.name, None, str, "a URL")
# field -> variable; the token is read apart, unstripped.
_ENV: Final[dict[str, EnvVar[Any]]] = {
    "kafka_bootstrap": _EXTERNAL_KAFKA,
    "redis_url": _EXTERNAL_REDIS,
    "topic": TOPIC,
    "deadletter_topic": DEADLETTER_TOPIC,
    "topic_partitions": TOPIC_PARTITIONS,
    "data_dir": DATA_DIR,
    "startup_timeout": STARTUP_TIMEOUT,
}
ENV_VARS: Final[frozenset[str]] = (
    frozenset(
        [
            *(var.name for var in _ENV.values()),
            API_TOKEN.name,
            API_ADMIN_TOKEN.name,
            BROKER_BIN.name,
        ]
    )
    | KAFKA_SECURITY_ENV_VARS
)
DEFAULT_PARTITIONS: Final = TOPIC_PARTITIONS.default
MAX_PARTITIONS: Final = 1000

# Kafka's own rule for topic names.
_TOPIC_RE: Final = re.compile(r"[A-Za-z0-9._-]{1,249}")
_HOST_PORT_RE: Final = re.compile(r"[^\s,:/]+:\d{1,5}")


@dataclass(frozen=True, slots=True)
class StackSettings:
    """What `stepmetrics up` starts and how.

    Attributes:
        kafka_bootstrap: External Kafka bootstrap servers (`host:port[,...]`);
            None starts the embedded broker.
        redis_url: External Redis URL; None starts the embedded redis-server.
        topic: The metrics topic.
        deadletter_topic: Where the worker puts envelopes it cannot apply.
        topic_partitions: Partition count of both topics when `up` creates them.
        api_token: The reader API's bearer token; None lets `up` generate one.
        api_admin_token: The reader API's admin token (may delete); None lets
            `up` generate one.
        data_dir: Where the embedded services keep data, logs and the state file.
        startup_timeout: Seconds each service may take to answer.
        kafka_security: TLS and SASL of the external Kafka (topic creation
            here; the worker reads the same variables).
    """

    kafka_bootstrap: str | None = None
    # Out of repr: the URL may hold a password (log `redact(redis_url)`).
    redis_url: str | None = field(default=None, repr=False)
    topic: str = TOPIC.default
    deadletter_topic: str = DEADLETTER_TOPIC.default
    topic_partitions: int = TOPIC_PARTITIONS.default
    api_token: str | None = field(default=None, repr=False)
    api_admin_token: str | None = field(default=None, repr=False)
    data_dir: Path = DATA_DIR.default
    startup_timeout: float = STARTUP_TIMEOUT.default
    kafka_security: KafkaSecurity = field(default_factory=KafkaSecurity)

    def __post_init__(self) -> None:
        if not self.deadletter_topic:
            object.__setattr__(self, "deadletter_topic", self.topic + DEADLETTER_SUFFIX)
        if self.kafka_bootstrap is not None:
            _check_bootstrap(self.kafka_bootstrap)
        elif self.kafka_security.protocol != SECURITY_PROTOCOL.default:
            raise StackSettingsError(
                f"{SECURITY_PROTOCOL.name}={self.kafka_security.protocol} needs an external "
                f"broker: set {BOOTSTRAP.name} (the embedded broker is plaintext only)"
            )
        if self.redis_url is not None:
            _check_redis(lambda: RedisConnection(self.redis_url or ""))
        for var, name in ((TOPIC, self.topic), (DEADLETTER_TOPIC, self.deadletter_topic)):
            if not _TOPIC_RE.fullmatch(name):
                _fail(var.name, name, "a Kafka topic name: 1-249 characters from A-Z a-z 0-9 . _ -")
        if self.topic == self.deadletter_topic:
            _fail(DEADLETTER_TOPIC.name, self.deadletter_topic, f"a topic other than {TOPIC.name}")
        if not 1 <= self.topic_partitions <= MAX_PARTITIONS:
            _fail(TOPIC_PARTITIONS.name, self.topic_partitions, f"an integer 1..{MAX_PARTITIONS}")
        for var, token in ((API_TOKEN, self.api_token), (API_ADMIN_TOKEN, self.api_admin_token)):
            if token is not None and (not token or token != token.strip()):
                raise StackSettingsError(
                    f"{var.name} is empty or has surrounding whitespace: "
                    "unset it to let `up` generate one"
                )
        if self.api_admin_token is not None and self.api_admin_token == self.api_token:
            raise StackSettingsError(
                f"{API_ADMIN_TOKEN.name} must differ from {API_TOKEN.name}: "
                "the read token must not be able to delete"
            )
        if not self.startup_timeout > 0:
            _fail(STARTUP_TIMEOUT.name, self.startup_timeout, "a positive number of seconds")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> StackSettings:
        """Build the settings from `STEPMETRICS_*` variables (empty or blank means unset)."""
        stripped = {var.name: environ.get(var.name, "").strip() for var in _ENV.values()}
        token = environ.get(API_TOKEN.name) or None
        admin = environ.get(API_ADMIN_TOKEN.name) or None
        try:
            security = KafkaSecurity.from_env(environ)
        except SettingsError as exc:
            raise StackSettingsError(str(exc)) from exc
        values = read_env(_ENV, stripped, StackSettingsError)
        settings = cls(api_token=token, api_admin_token=admin, kafka_security=security, **values)
        if settings.redis_url is not None:
            # The worker and the API read the TLS and cluster variables too: check them now.
            _check_redis(lambda: RedisConnection.from_env(environ))
        return settings


def _fail(name: str, value: object, allowed: str) -> None:
    raise StackSettingsError(bad_value(name, value, allowed))


def _check_bootstrap(value: str) -> None:
    servers = value.split(",")
    if not all(_HOST_PORT_RE.fullmatch(s.strip()) for s in servers):
        _fail(BOOTSTRAP.name, value, "host:port, comma separated for several brokers")


def _check_redis(build: Callable[[], RedisConnection]) -> None:
    try:
        build()
    except StoreSettingsError as exc:
        raise StackSettingsError(str(exc)) from exc
