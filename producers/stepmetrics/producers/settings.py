"""Settings of the step SDK's producer, read once from the environment."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final, TypeVar

from stepmetrics.producers.context import ENV_VARS as STEP_ENV_VARS
from stepmetrics.producers.errors import SettingsError
from stepmetrics.producers.events import MAX_ENVELOPE_BYTES

BOOTSTRAP_VAR: Final = "STEPMETRICS_KAFKA_BOOTSTRAP"
TOPIC_VAR: Final = "STEPMETRICS_TOPIC"
FLUSH_TIMEOUT_VAR: Final = "STEPMETRICS_FLUSH_TIMEOUT"
BUFFER_VALUES_VAR: Final = "STEPMETRICS_BUFFER_VALUES"
BLOCK_TIMEOUT_VAR: Final = "STEPMETRICS_BUFFER_BLOCK_TIMEOUT"
LINGER_MS_VAR: Final = "STEPMETRICS_LINGER_MS"
BATCH_BYTES_VAR: Final = "STEPMETRICS_BATCH_MAX_BYTES"
BATCH_EVENTS_VAR: Final = "STEPMETRICS_BATCH_MAX_EVENTS"
COMPRESSION_VAR: Final = "STEPMETRICS_COMPRESSION"
ACKS_VAR: Final = "STEPMETRICS_ACKS"
IDEMPOTENCE_VAR: Final = "STEPMETRICS_ENABLE_IDEMPOTENCE"
REQUEST_TIMEOUT_VAR: Final = "STEPMETRICS_REQUEST_TIMEOUT_MS"
RETRY_BACKOFF_MAX_VAR: Final = "STEPMETRICS_RETRY_BACKOFF_MAX"

ENV_VARS: Final[frozenset[str]] = (
    frozenset(
        {
            BOOTSTRAP_VAR,
            TOPIC_VAR,
            FLUSH_TIMEOUT_VAR,
            BUFFER_VALUES_VAR,
            BLOCK_TIMEOUT_VAR,
            LINGER_MS_VAR,
            BATCH_BYTES_VAR,
            BATCH_EVENTS_VAR,
            COMPRESSION_VAR,
            ACKS_VAR,
            IDEMPOTENCE_VAR,
            REQUEST_TIMEOUT_VAR,
            RETRY_BACKOFF_MAX_VAR,
        }
    )
    | STEP_ENV_VARS
)  # the step SDK also reads the step's identity (context.py)
COMPRESSIONS: Final = ("none", "gzip", "snappy", "lz4", "zstd")
ACKS: Final = ("all", "1")
# Leaves room for the largest header and a list event with a 256-char name.
MIN_BATCH_BYTES: Final = 8192
_TRUE: Final = frozenset({"1", "true", "yes", "on"})
_FALSE: Final = frozenset({"0", "false", "no", "off", ""})

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ProducerSettings:
    """How the step SDK buffers, batches and delivers events.

    Attributes:
        bootstrap: Kafka bootstrap servers, comma separated.
        topic: the metrics topic.
        flush_timeout: seconds the exit flush may take.
        buffer_values: capacity of the in-memory buffer, in metric values (a
            scalar is one value, a list of k values is k); values stay counted
            until the broker acknowledges them.
        block_timeout: seconds a `record_*` call waits for room in a full
            buffer before it drops its values (with a warning).
        linger_ms: how long the sender lets events accumulate before sending.
        batch_max_bytes: upper bound of one encoded envelope.
        batch_max_events: upper bound of events in one envelope.
        compression: Kafka compression codec: "zstd" (the default), "lz4",
            "snappy", "gzip" or "none".
        acks: "all" (default) or "1".
        enable_idempotence: Kafka idempotent producer (real Kafka only; Tansu
            cannot do it).
        request_timeout_ms: how long one produce attempt may take before the
            SDK retries it.
        retry_backoff_max: cap of the exponential backoff between retries, s.
    """

    bootstrap: str = "127.0.0.1:9092"
    topic: str = "stepmetrics.events"
    flush_timeout: float = 10.0
    buffer_values: int = 500_000
    block_timeout: float = 1.0
    linger_ms: int = 20
    batch_max_bytes: int = MAX_ENVELOPE_BYTES
    batch_max_events: int = 20_000
    # aiokafka runs gzip and lz4 at their slowest levels (lz4: ~10 MB/s on a
    # real envelope, 73% of the sender's time); zstd: ~130 MB/s.
    compression: str = "zstd"
    acks: str = "all"
    enable_idempotence: bool = False
    request_timeout_ms: int = 30_000
    retry_backoff_max: float = 5.0

    def __post_init__(self) -> None:
        _require(BOOTSTRAP_VAR, self.bootstrap, bool(self.bootstrap.strip()), "non-empty")
        _require(TOPIC_VAR, self.topic, bool(self.topic.strip()), "non-empty")
        _require(FLUSH_TIMEOUT_VAR, self.flush_timeout, self.flush_timeout >= 0, ">= 0")
        _require(BUFFER_VALUES_VAR, self.buffer_values, self.buffer_values >= 1, ">= 1")
        _require(BLOCK_TIMEOUT_VAR, self.block_timeout, self.block_timeout >= 0, ">= 0")
        _require(LINGER_MS_VAR, self.linger_ms, 0 <= self.linger_ms <= 60_000, "0..60000")
        _require(
            BATCH_BYTES_VAR,
            self.batch_max_bytes,
            MIN_BATCH_BYTES <= self.batch_max_bytes <= MAX_ENVELOPE_BYTES,
            f"{MIN_BATCH_BYTES}..{MAX_ENVELOPE_BYTES}",
        )
        _require(BATCH_EVENTS_VAR, self.batch_max_events, self.batch_max_events >= 1, ">= 1")
        _require(
            COMPRESSION_VAR, self.compression, self.compression in COMPRESSIONS, str(COMPRESSIONS)
        )
        _require(ACKS_VAR, self.acks, self.acks in ACKS, str(ACKS))
        _require(
            IDEMPOTENCE_VAR,
            self.enable_idempotence,
            self.acks == "all" or not self.enable_idempotence,
            f"false unless {ACKS_VAR}=all",
        )
        _require(
            COMPRESSION_VAR,
            self.compression,
            _codec_available(self.compression),
            "an installed codec",
        )
        _require(
            REQUEST_TIMEOUT_VAR, self.request_timeout_ms, self.request_timeout_ms >= 100, ">= 100"
        )
        _require(RETRY_BACKOFF_MAX_VAR, self.retry_backoff_max, self.retry_backoff_max > 0, "> 0")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> ProducerSettings:
        """Build settings from `STEPMETRICS_*` variables; unset ones keep defaults.

        Raises:
            SettingsError: a variable holds a value that is not allowed; the
                message names the variable and the value.
        """
        d = cls()
        return cls(
            bootstrap=environ.get(BOOTSTRAP_VAR, d.bootstrap),
            topic=environ.get(TOPIC_VAR, d.topic),
            flush_timeout=_parse(environ, FLUSH_TIMEOUT_VAR, float, d.flush_timeout),
            buffer_values=_parse(environ, BUFFER_VALUES_VAR, int, d.buffer_values),
            block_timeout=_parse(environ, BLOCK_TIMEOUT_VAR, float, d.block_timeout),
            linger_ms=_parse(environ, LINGER_MS_VAR, int, d.linger_ms),
            batch_max_bytes=_parse(environ, BATCH_BYTES_VAR, int, d.batch_max_bytes),
            batch_max_events=_parse(environ, BATCH_EVENTS_VAR, int, d.batch_max_events),
            compression=environ.get(COMPRESSION_VAR, d.compression).strip().lower(),
            acks=environ.get(ACKS_VAR, d.acks).strip().lower(),
            enable_idempotence=_parse(environ, IDEMPOTENCE_VAR, _boolean, False),
            request_timeout_ms=_parse(environ, REQUEST_TIMEOUT_VAR, int, d.request_timeout_ms),
            retry_backoff_max=_parse(environ, RETRY_BACKOFF_MAX_VAR, float, d.retry_backoff_max),
        )


def _codec_available(name: str) -> bool:
    if name in ("none", "gzip"):
        return True
    # snappy, lz4 and zstd need `cramjam` (in the producer and processor extras).
    from aiokafka import codec

    return bool(getattr(codec, f"has_{name}", lambda: False)())


def _boolean(raw: str) -> bool:
    text = raw.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(raw)


def _parse(environ: Mapping[str, str], var: str, convert: Callable[[str], T], default: T) -> T:
    raw = environ.get(var)
    if raw is None:
        return default
    try:
        return convert(raw)
    except ValueError as exc:
        raise SettingsError(
            f"{var}={raw!r} is not a valid {getattr(convert, '__name__', 'value')}"
        ) from exc


def _require(var: str, value: object, ok: bool, allowed: str) -> None:
    if not ok:
        raise SettingsError(f"{var}={value!r} is not allowed; allowed: {allowed}")
