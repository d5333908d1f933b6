"""Settings of the stream worker, read from `STEPMETRICS_*` variables."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Final, TypeVar

from stepmetrics.processors.errors import ProcessorSettingsError
from stepmetrics.store.keys import RedisKeys

_T = TypeVar("_T")

# field name -> environment variable
_ENV: Final[dict[str, str]] = {
    "kafka_bootstrap": "STEPMETRICS_KAFKA_BOOTSTRAP",
    "topic": "STEPMETRICS_TOPIC",
    "deadletter_topic": "STEPMETRICS_DEADLETTER_TOPIC",
    "topic_partitions": "STEPMETRICS_TOPIC_PARTITIONS",
    "redis_url": "STEPMETRICS_REDIS_URL",
    "redis_prefix": "STEPMETRICS_REDIS_PREFIX",
    "redis_timeout": "STEPMETRICS_REDIS_TIMEOUT",
    "group_id": "STEPMETRICS_WORKER_GROUP",
    "batch_size": "STEPMETRICS_WORKER_BATCH_SIZE",
    "batch_within": "STEPMETRICS_WORKER_BATCH_WITHIN",
    "session_timeout": "STEPMETRICS_KAFKA_SESSION_TIMEOUT",
    "heartbeat_interval": "STEPMETRICS_KAFKA_HEARTBEAT_INTERVAL",
    "fetch_max_wait": "STEPMETRICS_KAFKA_FETCH_MAX_WAIT",
    "commit_interval": "STEPMETRICS_WORKER_COMMIT_INTERVAL",
    "stats_interval": "STEPMETRICS_WORKER_STATS_INTERVAL",
    "max_backoff": "STEPMETRICS_WORKER_MAX_BACKOFF",
    "datadir": "STEPMETRICS_WORKER_DATADIR",
    "log_level": "STEPMETRICS_WORKER_LOG_LEVEL",
}
ENV_VARS: Final[frozenset[str]] = frozenset(_ENV.values())
_LOG_LEVELS: Final = ("debug", "info", "warning", "error")


@dataclass(frozen=True, slots=True)
class ProcessorSettings:
    """Everything the worker needs; build with `from_env()`.

    Timeouts and intervals are seconds. Short Kafka timeouts suit the local
    broker (a first group join waits about half the session timeout).
    """

    kafka_bootstrap: str = "127.0.0.1:9092"
    topic: str = "stepmetrics.events"
    deadletter_topic: str = ""  # "" = topic + ".deadletter"
    topic_partitions: int = 4
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_prefix: str = "stepmetrics"
    redis_timeout: float = 10.0
    group_id: str = "stepmetrics-worker"
    batch_size: int = 200
    batch_within: float = 0.05
    session_timeout: float = 10.0
    heartbeat_interval: float = 1.0
    # How long a fetch may wait for data. Kafka answers as soon as data
    # arrives; Tansu waits the whole time, so this bounds the latency there.
    fetch_max_wait: float = 0.1
    commit_interval: float = 1.0
    stats_interval: float = 10.0
    max_backoff: float = 5.0
    datadir: str = ""  # "" = a directory under the system temp dir
    log_level: str = "info"

    def __post_init__(self) -> None:
        if not self.deadletter_topic:
            object.__setattr__(self, "deadletter_topic", f"{self.topic}.deadletter")
        if not self.datadir:
            default = Path(tempfile.gettempdir()) / f"stepmetrics-worker-{self.group_id}"
            object.__setattr__(self, "datadir", str(default))
        for name in ("kafka_bootstrap", "topic", "redis_url", "group_id"):
            if not getattr(self, name).strip():
                _fail(name, getattr(self, name), "a non-empty string")
        if self.deadletter_topic == self.topic:
            _fail("deadletter_topic", self.deadletter_topic, "a topic other than the source")
        for name in ("topic_partitions", "batch_size"):
            if getattr(self, name) < 1:
                _fail(name, getattr(self, name), "an integer >= 1")
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
            raise ProcessorSettingsError(f"{_ENV['redis_prefix']}: {exc}") from exc

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> ProcessorSettings:
        """Read every `STEPMETRICS_*` variable the worker uses; unset = default."""
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = environ.get(_ENV[f.name])
            if raw is None or raw == "":
                continue
            parse: Callable[[str], object] = _PARSERS.get(f.name, str.strip)
            values[f.name] = _parse(f.name, raw, parse)
        return cls(**values)  # type: ignore[arg-type]

    @property
    def keys(self) -> RedisKeys:
        return RedisKeys(self.redis_prefix)


_FLOATS: Final = (
    "redis_timeout",
    "batch_within",
    "session_timeout",
    "heartbeat_interval",
    "fetch_max_wait",
    "commit_interval",
    "stats_interval",
    "max_backoff",
)
_PARSERS: Final[dict[str, Callable[[str], object]]] = {
    "topic_partitions": int,
    "batch_size": int,
    **dict.fromkeys(_FLOATS, float),
    "log_level": lambda raw: raw.strip().lower(),
}


def _parse(name: str, raw: str, parse: Callable[[str], _T]) -> _T:
    try:
        return parse(raw)
    except ValueError as exc:
        raise ProcessorSettingsError(
            f"{_ENV[name]}={raw!r} is not valid: expected {parse.__name__}"
        ) from exc


def _fail(name: str, value: object, allowed: str) -> None:
    raise ProcessorSettingsError(f"{_ENV[name]}={value!r} is not allowed: expected {allowed}")
