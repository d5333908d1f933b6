"""Settings of `stepmetrics up` / `stepmetrics env`, read from the environment."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, TypeVar
from urllib.parse import urlsplit

from stepmetrics.stack.errors import StackSettingsError

DEFAULT_TOPIC: Final = "stepmetrics.events"
DEADLETTER_SUFFIX: Final = ".deadletter"
DEFAULT_PARTITIONS: Final = 4
DEFAULT_DATA_DIR: Final = ".stepmetrics"
DEFAULT_STARTUP_TIMEOUT: Final = 60.0
MAX_PARTITIONS: Final = 1000

ENV_VARS: Final[frozenset[str]] = frozenset(
    {
        "STEPMETRICS_KAFKA_BOOTSTRAP",
        "STEPMETRICS_REDIS_URL",
        "STEPMETRICS_TOPIC",
        "STEPMETRICS_DEADLETTER_TOPIC",
        "STEPMETRICS_TOPIC_PARTITIONS",
        "STEPMETRICS_API_TOKEN",
        "STEPMETRICS_DATA_DIR",
        "STEPMETRICS_STARTUP_TIMEOUT",
        # Read by stepmetrics.stack.services.broker_binary().
        "STEPMETRICS_BROKER_BIN",
    }
)

# Kafka's own rule for topic names.
_TOPIC_RE: Final = re.compile(r"[A-Za-z0-9._-]{1,249}")
_HOST_PORT_RE: Final = re.compile(r"[^\s,:/]+:\d{1,5}")
_REDIS_SCHEMES: Final = ("redis", "rediss", "unix")
_N = TypeVar("_N", int, float)


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
        data_dir: Where the embedded services keep data, logs and the state file.
        startup_timeout: Seconds each service may take to answer.
    """

    kafka_bootstrap: str | None = None
    redis_url: str | None = None
    topic: str = DEFAULT_TOPIC
    deadletter_topic: str = ""
    topic_partitions: int = DEFAULT_PARTITIONS
    api_token: str | None = field(default=None, repr=False)
    data_dir: Path = Path(DEFAULT_DATA_DIR)
    startup_timeout: float = DEFAULT_STARTUP_TIMEOUT

    def __post_init__(self) -> None:
        if not self.deadletter_topic:
            object.__setattr__(self, "deadletter_topic", self.topic + DEADLETTER_SUFFIX)
        if self.kafka_bootstrap is not None:
            _check_bootstrap(self.kafka_bootstrap)
        if self.redis_url is not None:
            _check_redis_url(self.redis_url)
        for var, name in (
            ("STEPMETRICS_TOPIC", self.topic),
            ("STEPMETRICS_DEADLETTER_TOPIC", self.deadletter_topic),
        ):
            if not _TOPIC_RE.fullmatch(name):
                raise StackSettingsError(
                    f"{var}={name!r} is not allowed: a Kafka topic name has 1-249 "
                    "characters from A-Z a-z 0-9 . _ -"
                )
        if self.topic == self.deadletter_topic:
            raise StackSettingsError(
                f"STEPMETRICS_DEADLETTER_TOPIC={self.deadletter_topic!r} is not allowed: "
                "it must differ from STEPMETRICS_TOPIC"
            )
        if not 1 <= self.topic_partitions <= MAX_PARTITIONS:
            raise StackSettingsError(
                f"STEPMETRICS_TOPIC_PARTITIONS={self.topic_partitions!r} is not allowed: "
                f"use an integer from 1 to {MAX_PARTITIONS}"
            )
        token = self.api_token
        if token is not None and (not token or token != token.strip()):
            raise StackSettingsError(
                "STEPMETRICS_API_TOKEN is empty or has surrounding whitespace: "
                "unset it to let `up` generate one"
            )
        if not self.startup_timeout > 0:
            raise StackSettingsError(
                f"STEPMETRICS_STARTUP_TIMEOUT={self.startup_timeout!r} is not allowed: "
                "use a positive number of seconds"
            )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> StackSettings:
        """Build the settings from `STEPMETRICS_*` variables (empty means unset)."""

        def get(name: str) -> str | None:
            value = environ.get(name, "").strip()
            return value or None

        token = environ.get("STEPMETRICS_API_TOKEN")
        return cls(
            kafka_bootstrap=get("STEPMETRICS_KAFKA_BOOTSTRAP"),
            redis_url=get("STEPMETRICS_REDIS_URL"),
            topic=get("STEPMETRICS_TOPIC") or DEFAULT_TOPIC,
            deadletter_topic=get("STEPMETRICS_DEADLETTER_TOPIC") or "",
            topic_partitions=_number(
                int,
                "STEPMETRICS_TOPIC_PARTITIONS",
                get("STEPMETRICS_TOPIC_PARTITIONS"),
                DEFAULT_PARTITIONS,
            ),
            api_token=token if token else None,
            data_dir=Path(get("STEPMETRICS_DATA_DIR") or DEFAULT_DATA_DIR),
            startup_timeout=_number(
                float,
                "STEPMETRICS_STARTUP_TIMEOUT",
                get("STEPMETRICS_STARTUP_TIMEOUT"),
                DEFAULT_STARTUP_TIMEOUT,
            ),
        )


def _number(kind: Callable[[str], _N], var: str, raw: str | None, default: _N) -> _N:
    if raw is None:
        return default
    try:
        return kind(raw)
    except ValueError:
        what = "an integer" if kind is int else "a number"
        raise StackSettingsError(f"{var}={raw!r} is not allowed: it must be {what}") from None


def _check_bootstrap(value: str) -> None:
    servers = value.split(",")
    if not all(_HOST_PORT_RE.fullmatch(s.strip()) for s in servers):
        raise StackSettingsError(
            f"STEPMETRICS_KAFKA_BOOTSTRAP={value!r} is not allowed: use host:port, "
            "comma separated for several brokers"
        )


def _check_redis_url(value: str) -> None:
    parts = urlsplit(value)
    if parts.scheme not in _REDIS_SCHEMES or not (parts.hostname or parts.path):
        raise StackSettingsError(
            f"STEPMETRICS_REDIS_URL={value!r} is not allowed: use "
            "redis://host:port/db, rediss://... or unix:///path"
        )
