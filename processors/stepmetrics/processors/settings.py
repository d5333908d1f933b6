"""Settings of the stream worker, read from `STEPMETRICS_*` variables."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from stepmetrics.envvars import EnvVar, bad_value, read_env
from stepmetrics.processors.deadletter import MIN_DEAD_LETTER_BYTES
from stepmetrics.processors.errors import ProcessorSettingsError
from stepmetrics.processors.writes.limits import (
    MAX_LIST_NAMES,
    MAX_PRODUCERS,
    MAX_SCALAR_NAMES,
    WriteLimits,
)
from stepmetrics.producers.errors import SettingsError
from stepmetrics.producers.events import MAX_ENVELOPE_EVENTS
from stepmetrics.producers.security import ENV_VARS as KAFKA_SECURITY_ENV_VARS
from stepmetrics.producers.security import KafkaSecurity
from stepmetrics.producers.settings import BOOTSTRAP, TOPIC
from stepmetrics.store import connection
from stepmetrics.store.connection import RedisConnection
from stepmetrics.store.errors import StoreSettingsError
from stepmetrics.store.keys import RedisKeys
from stepmetrics.store.settings import REDIS_PREFIX

_LOG_LEVELS: Final = ("debug", "info", "warning", "error")
_INTEGER: Final = "an integer"
_NUMBER: Final = "a number"


def _seconds(name: str, default: float) -> EnvVar[float]:
    return EnvVar(name, default, float, _NUMBER)


def _trimmed(name: str, default: str) -> EnvVar[str]:
    # The worker trims the text of the variables it shares with the SDK and the store.
    return EnvVar(name, default, str.strip, "a string")


DEADLETTER_SUFFIX: Final = ".deadletter"
# The worker's variables that `stepmetrics up` reads or sets too.
DEADLETTER_TOPIC: Final = EnvVar("STEPMETRICS_DEADLETTER_TOPIC", "", str.strip, "a topic name")
TOPIC_PARTITIONS: Final = EnvVar("STEPMETRICS_TOPIC_PARTITIONS", 4, int, _INTEGER)
# "" = a directory under the system temp dir; `stepmetrics up` sets one per stack.
DATADIR: Final = EnvVar("STEPMETRICS_WORKER_DATADIR", "", str.strip, "a directory")
# The worker's Prometheus `/metrics` (0 = off); `stepmetrics up` picks a free port.
METRICS_PORT: Final = EnvVar(
    "STEPMETRICS_WORKER_METRICS_PORT", 9478, int, "a port number (0-65535; 0 = off)"
)
METRICS_HOST: Final = EnvVar("STEPMETRICS_WORKER_METRICS_HOST", "127.0.0.1", str.strip, "a host")
_MAX_PORT: Final = 65535
METRICS_PATH: Final = "/metrics"
# field -> variable
_ENV: Final[dict[str, EnvVar[Any]]] = {
    "kafka_bootstrap": _trimmed(BOOTSTRAP.name, BOOTSTRAP.default),
    "topic": _trimmed(TOPIC.name, TOPIC.default),
    "deadletter_topic": DEADLETTER_TOPIC,
    "topic_partitions": TOPIC_PARTITIONS,
    "redis_prefix": _trimmed(REDIS_PREFIX.name, REDIS_PREFIX.default),
    "redis_timeout": _seconds("STEPMETRICS_REDIS_TIMEOUT", 10.0),
    "group_id": EnvVar("STEPMETRICS_WORKER_GROUP", "stepmetrics-worker", str.strip, "a name"),
    "batch_size": EnvVar("STEPMETRICS_WORKER_BATCH_SIZE", 200, int, _INTEGER),
    "max_producers": EnvVar("STEPMETRICS_WORKER_MAX_PRODUCERS", MAX_PRODUCERS, int, _INTEGER),
    "batch_within": _seconds("STEPMETRICS_WORKER_BATCH_WITHIN", 0.05),
    "session_timeout": _seconds("STEPMETRICS_KAFKA_SESSION_TIMEOUT", 10.0),
    "heartbeat_interval": _seconds("STEPMETRICS_KAFKA_HEARTBEAT_INTERVAL", 1.0),
    # How long a fetch may wait for data. Kafka answers as soon as data
    # arrives; Tansu waits the whole time, so this bounds the latency there.
    "fetch_max_wait": _seconds("STEPMETRICS_KAFKA_FETCH_MAX_WAIT", 0.1),
    # Bytes one fetch may bring per partition and in all (the broker still
    # returns a first record batch larger than either, up to its own limit).
    "max_partition_fetch_bytes": EnvVar(
        "STEPMETRICS_KAFKA_MAX_PARTITION_FETCH_BYTES", 4 * 1024 * 1024, int, _INTEGER
    ),
    "fetch_max_bytes": EnvVar("STEPMETRICS_KAFKA_FETCH_MAX_BYTES", 16 * 1024 * 1024, int, _INTEGER),
    # A dead letter's record (key, value, headers, framing) in bytes, at most:
    # under Kafka's 1 MiB default with room; a maximal envelope fits whole.
    "deadletter_max_bytes": EnvVar("STEPMETRICS_DEADLETTER_MAX_BYTES", 960_000, int, _INTEGER),
    "commit_interval": _seconds("STEPMETRICS_WORKER_COMMIT_INTERVAL", 1.0),
    "stats_interval": _seconds("STEPMETRICS_WORKER_STATS_INTERVAL", 10.0),
    "max_backoff": _seconds("STEPMETRICS_WORKER_MAX_BACKOFF", 5.0),
    "datadir": DATADIR,
    "metrics_port": METRICS_PORT,
    "metrics_host": METRICS_HOST,
    # Limits per execution and envelope (the topic is untrusted input).
    "max_scalar_names": EnvVar("STEPMETRICS_MAX_SCALAR_NAMES", MAX_SCALAR_NAMES, int, _INTEGER),
    "max_list_names": EnvVar("STEPMETRICS_MAX_LIST_NAMES", MAX_LIST_NAMES, int, _INTEGER),
    "max_envelope_events": EnvVar(
        "STEPMETRICS_MAX_ENVELOPE_EVENTS", MAX_ENVELOPE_EVENTS, int, _INTEGER
    ),
    "log_level": EnvVar(
        "STEPMETRICS_WORKER_LOG_LEVEL", "info", lambda raw: raw.strip().lower(), "a level name"
    ),
}
# The Kafka security variables are the SDK's (one definition for every client).
# The Kafka security variables are the SDK's and the Redis connection's are the
# store's (one definition for every client).
ENV_VARS: Final[frozenset[str]] = (
    frozenset(v.name for v in _ENV.values()) | KAFKA_SECURITY_ENV_VARS | connection.ENV_VARS
)
_MINIMUMS: Final = {
    "topic_partitions": 1,
    "batch_size": 1,
    "max_partition_fetch_bytes": 1,
    "fetch_max_bytes": 1,
    "deadletter_max_bytes": MIN_DEAD_LETTER_BYTES,
    "max_producers": 1,
    "max_scalar_names": 1,
    "max_list_names": 1,
    "max_envelope_events": 1,
}
_FLOATS: Final = tuple(name for name, var in _ENV.items() if var.parse is float)


@dataclass(frozen=True, slots=True)
class ProcessorSettings:
    """Everything the worker needs; build with `from_env()`.

    Timeouts and intervals are seconds. Short Kafka timeouts suit the local
    broker (a first group join waits about half the session timeout).
    `kafka_security` (TLS, SASL) applies to the consumer, the dead-letter
    producer and the topic administration alike.
    """

    kafka_bootstrap: str = _ENV["kafka_bootstrap"].default
    topic: str = _ENV["topic"].default
    deadletter_topic: str = _ENV["deadletter_topic"].default
    topic_partitions: int = _ENV["topic_partitions"].default
    # URL (with the ACL user), TLS files, cluster mode: the store's one definition.
    redis: RedisConnection = field(default_factory=RedisConnection)
    redis_prefix: str = _ENV["redis_prefix"].default
    redis_timeout: float = _ENV["redis_timeout"].default
    group_id: str = _ENV["group_id"].default
    batch_size: int = _ENV["batch_size"].default
    max_producers: int = _ENV["max_producers"].default
    batch_within: float = _ENV["batch_within"].default
    session_timeout: float = _ENV["session_timeout"].default
    heartbeat_interval: float = _ENV["heartbeat_interval"].default
    fetch_max_wait: float = _ENV["fetch_max_wait"].default
    max_partition_fetch_bytes: int = _ENV["max_partition_fetch_bytes"].default
    fetch_max_bytes: int = _ENV["fetch_max_bytes"].default
    deadletter_max_bytes: int = _ENV["deadletter_max_bytes"].default
    commit_interval: float = _ENV["commit_interval"].default
    stats_interval: float = _ENV["stats_interval"].default
    max_backoff: float = _ENV["max_backoff"].default
    datadir: str = _ENV["datadir"].default
    metrics_port: int = _ENV["metrics_port"].default
    metrics_host: str = _ENV["metrics_host"].default
    max_scalar_names: int = _ENV["max_scalar_names"].default
    max_list_names: int = _ENV["max_list_names"].default
    max_envelope_events: int = _ENV["max_envelope_events"].default
    log_level: str = _ENV["log_level"].default
    kafka_security: KafkaSecurity = field(default_factory=KafkaSecurity)

    def __post_init__(self) -> None:
        if not self.deadletter_topic:
            object.__setattr__(self, "deadletter_topic", self.topic + DEADLETTER_SUFFIX)
        if not self.datadir:
            default = Path(tempfile.gettempdir()) / f"stepmetrics-worker-{self.group_id}"
            object.__setattr__(self, "datadir", str(default))
        if not 0 <= self.metrics_port <= _MAX_PORT:
            _fail("metrics_port", self.metrics_port, METRICS_PORT.allowed)
        for name in ("kafka_bootstrap", "topic", "group_id", "metrics_host"):
            if not getattr(self, name).strip():
                _fail(name, getattr(self, name), "a non-empty string")
        if self.deadletter_topic == self.topic:
            _fail("deadletter_topic", self.deadletter_topic, "a topic other than the source")
        self._check_minimums()
        for name in _FLOATS:
            if not getattr(self, name) > 0:
                _fail(name, getattr(self, name), "a number > 0")
        if self.heartbeat_interval >= self.session_timeout:
            _fail("heartbeat_interval", self.heartbeat_interval, "less than the session timeout")
        if self.log_level not in _LOG_LEVELS:
            _fail("log_level", self.log_level, f"one of {', '.join(_LOG_LEVELS)}")
        try:
            RedisKeys(self.redis_prefix)
        except ValueError as exc:
            _fail("redis_prefix", self.redis_prefix, str(exc), exc)

    def _check_minimums(self) -> None:
        for name, least in _MINIMUMS.items():
            if getattr(self, name) < least:
                _fail(name, getattr(self, name), f"an integer >= {least}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> ProcessorSettings:
        """Read every `STEPMETRICS_*` variable the worker uses; unset or empty = default."""
        try:
            security = KafkaSecurity.from_env(environ)
            redis = RedisConnection.from_env(environ)
        except (SettingsError, StoreSettingsError) as exc:
            raise ProcessorSettingsError(str(exc)) from exc
        values = read_env(_ENV, environ, ProcessorSettingsError)
        return cls(redis=redis, kafka_security=security, **values)

    @property
    def keys(self) -> RedisKeys:
        return RedisKeys(self.redis_prefix)

    @property
    def limits(self) -> WriteLimits:
        """The per-execution limits of the write model."""
        return WriteLimits(
            scalar_names=self.max_scalar_names,
            list_names=self.max_list_names,
            producers=self.max_producers,
        )


def _fail(name: str, value: object, allowed: str, cause: Exception | None = None) -> None:
    raise ProcessorSettingsError(bad_value(_ENV[name].name, value, allowed)) from cause
