"""Settings of the step SDK's producer, read once from the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from stepmetrics.envvars import EnvVar, bad_value, read_env
from stepmetrics.producers.context import ENV_VARS as STEP_ENV_VARS
from stepmetrics.producers.errors import SettingsError
from stepmetrics.producers.events import MAX_ENVELOPE_BYTES
from stepmetrics.producers.security import ENV_VARS as SECURITY_ENV_VARS
from stepmetrics.producers.security import KafkaSecurity


def _boolean(raw: str) -> bool:
    text = raw.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(raw)


def _word(raw: str) -> str:
    return raw.strip().lower()


_TRUE: Final = frozenset({"1", "true", "yes", "on"})
_FALSE: Final = frozenset({"0", "false", "no", "off"})
_NUMBER: Final = "a number"
_INTEGER: Final = "an integer"

# The SDK's variables. The worker and `stepmetrics up` read the first two
# too, and import them from here.
BOOTSTRAP: Final = EnvVar("STEPMETRICS_KAFKA_BOOTSTRAP", "127.0.0.1:9092", str, "host:port[,...]")
TOPIC: Final = EnvVar("STEPMETRICS_TOPIC", "stepmetrics.events", str, "a topic name")
FLUSH_TIMEOUT: Final = EnvVar("STEPMETRICS_FLUSH_TIMEOUT", 10.0, float, _NUMBER)
BUFFER_VALUES: Final = EnvVar("STEPMETRICS_BUFFER_VALUES", 500_000, int, _INTEGER)
BLOCK_TIMEOUT: Final = EnvVar("STEPMETRICS_BUFFER_BLOCK_TIMEOUT", 1.0, float, _NUMBER)
LINGER_MS: Final = EnvVar("STEPMETRICS_LINGER_MS", 20, int, _INTEGER)
BATCH_BYTES: Final = EnvVar("STEPMETRICS_BATCH_MAX_BYTES", MAX_ENVELOPE_BYTES, int, _INTEGER)
BATCH_EVENTS: Final = EnvVar("STEPMETRICS_BATCH_MAX_EVENTS", 20_000, int, _INTEGER)
# Kafka's max.request.size: at most the broker's message.max.bytes; an envelope
# beyond it is refused for good (spooled, for a `stepmetrics sync` once fixed).
MAX_REQUEST: Final = EnvVar("STEPMETRICS_MAX_REQUEST_BYTES", 1_048_576, int, _INTEGER)
# aiokafka runs gzip and lz4 at their slowest levels (lz4: ~10 MB/s on a real
# envelope, 73% of the sender's time); zstd: ~130 MB/s.
COMPRESSION: Final = EnvVar("STEPMETRICS_COMPRESSION", "zstd", _word, "a codec name")
ACKS: Final = EnvVar("STEPMETRICS_ACKS", "all", _word, "all or 1")
IDEMPOTENCE: Final = EnvVar("STEPMETRICS_ENABLE_IDEMPOTENCE", False, _boolean, "true or false")
REQUEST_TIMEOUT: Final = EnvVar("STEPMETRICS_REQUEST_TIMEOUT_MS", 30_000, int, _INTEGER)
RETRY_BACKOFF_MAX: Final = EnvVar("STEPMETRICS_RETRY_BACKOFF_MAX", 5.0, float, _NUMBER)
# "" means the user's cache directory (`ProducerSettings.spool_directory`).
SPOOL_DIR: Final = EnvVar("STEPMETRICS_SPOOL_DIR", "", str, "a directory")
SPOOL_MAX_BYTES: Final = EnvVar("STEPMETRICS_SPOOL_MAX_BYTES", 1 << 30, int, _INTEGER)
DURABILITY: Final = EnvVar("STEPMETRICS_DURABILITY", "memory", _word, "memory or disk")
MODE: Final = EnvVar("STEPMETRICS_MODE", "online", _word, "online or offline")

# field -> variable
_ENV: Final[dict[str, EnvVar[Any]]] = {
    "bootstrap": BOOTSTRAP,
    "topic": TOPIC,
    "flush_timeout": FLUSH_TIMEOUT,
    "buffer_values": BUFFER_VALUES,
    "block_timeout": BLOCK_TIMEOUT,
    "linger_ms": LINGER_MS,
    "batch_max_bytes": BATCH_BYTES,
    "batch_max_events": BATCH_EVENTS,
    "max_request_bytes": MAX_REQUEST,
    "compression": COMPRESSION,
    "acks": ACKS,
    "enable_idempotence": IDEMPOTENCE,
    "request_timeout_ms": REQUEST_TIMEOUT,
    "retry_backoff_max": RETRY_BACKOFF_MAX,
    "spool_dir": SPOOL_DIR,
    "spool_max_bytes": SPOOL_MAX_BYTES,
    "durability": DURABILITY,
    "mode": MODE,
}
# The step SDK also reads the step's identity (context.py) and the Kafka
# security variables (security.py).
ENV_VARS: Final[frozenset[str]] = (
    frozenset(v.name for v in _ENV.values()) | STEP_ENV_VARS | SECURITY_ENV_VARS
)
COMPRESSIONS: Final = ("none", "gzip", "snappy", "lz4", "zstd")
ACKS_VALUES: Final = ("all", "1")
DURABILITIES: Final = ("memory", "disk")
MODES: Final = ("online", "offline")
# Leaves room for the largest header and a list event with a 256-char name.
MIN_BATCH_BYTES: Final = 8192


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
        max_request_bytes: the producer's max request size (Kafka's
            max.request.size); an envelope beyond it is refused for good.
        compression: Kafka compression codec: "zstd" (the default), "lz4",
            "snappy", "gzip" or "none".
        acks: "all" (default) or "1".
        enable_idempotence: Kafka idempotent producer (real Kafka only; Tansu
            cannot do it).
        request_timeout_ms: how long one produce attempt may take before the
            SDK retries it.
        retry_backoff_max: cap of the exponential backoff between retries, s.
        security: TLS and SASL of the connection to Kafka.
        spool_dir: where undelivered envelopes are kept for `stepmetrics sync`
            ("": `$XDG_CACHE_HOME/stepmetrics/spool` or `~/.cache/...`).
        spool_max_bytes: cap of the spool directory; envelopes beyond it are
            dropped, with a warning, and counted as failed.
        durability: "memory" (default): spool what is undelivered at exit;
            "disk": spool every envelope before sending it.
        mode: "online" (default) or "offline": spool only, no broker.
    """

    bootstrap: str = BOOTSTRAP.default
    topic: str = TOPIC.default
    flush_timeout: float = FLUSH_TIMEOUT.default
    buffer_values: int = BUFFER_VALUES.default
    block_timeout: float = BLOCK_TIMEOUT.default
    linger_ms: int = LINGER_MS.default
    batch_max_bytes: int = BATCH_BYTES.default
    batch_max_events: int = BATCH_EVENTS.default
    max_request_bytes: int = MAX_REQUEST.default
    compression: str = COMPRESSION.default
    acks: str = ACKS.default
    enable_idempotence: bool = IDEMPOTENCE.default
    request_timeout_ms: int = REQUEST_TIMEOUT.default
    retry_backoff_max: float = RETRY_BACKOFF_MAX.default
    security: KafkaSecurity = field(default_factory=KafkaSecurity)
    spool_dir: str = SPOOL_DIR.default
    spool_max_bytes: int = SPOOL_MAX_BYTES.default
    durability: str = DURABILITY.default
    mode: str = MODE.default

    def __post_init__(self) -> None:
        _require(BOOTSTRAP, self.bootstrap, bool(self.bootstrap.strip()), "non-empty")
        _require(TOPIC, self.topic, bool(self.topic.strip()), "non-empty")
        _require(FLUSH_TIMEOUT, self.flush_timeout, self.flush_timeout >= 0, ">= 0")
        _require(BUFFER_VALUES, self.buffer_values, self.buffer_values >= 1, ">= 1")
        _require(BLOCK_TIMEOUT, self.block_timeout, self.block_timeout >= 0, ">= 0")
        _require(LINGER_MS, self.linger_ms, 0 <= self.linger_ms <= 60_000, "0..60000")
        _require(
            BATCH_BYTES,
            self.batch_max_bytes,
            MIN_BATCH_BYTES <= self.batch_max_bytes <= MAX_ENVELOPE_BYTES,
            f"{MIN_BATCH_BYTES}..{MAX_ENVELOPE_BYTES}",
        )
        _require(BATCH_EVENTS, self.batch_max_events, self.batch_max_events >= 1, ">= 1")
        _require(MAX_REQUEST, self.max_request_bytes, self.max_request_bytes >= 1024, ">= 1024")
        _require(COMPRESSION, self.compression, self.compression in COMPRESSIONS, str(COMPRESSIONS))
        _require(ACKS, self.acks, self.acks in ACKS_VALUES, str(ACKS_VALUES))
        _require(
            IDEMPOTENCE,
            self.enable_idempotence,
            self.acks == "all" or not self.enable_idempotence,
            f"false unless {ACKS.name}=all",
        )
        _require(
            COMPRESSION, self.compression, _codec_available(self.compression), "an installed codec"
        )
        _require(REQUEST_TIMEOUT, self.request_timeout_ms, self.request_timeout_ms >= 100, ">= 100")
        _require(RETRY_BACKOFF_MAX, self.retry_backoff_max, self.retry_backoff_max > 0, "> 0")
        _require(SPOOL_MAX_BYTES, self.spool_max_bytes, self.spool_max_bytes >= 0, ">= 0")
        _require(DURABILITY, self.durability, self.durability in DURABILITIES, str(DURABILITIES))
        _require(MODE, self.mode, self.mode in MODES, str(MODES))

    def spool_directory(self) -> str:
        """`spool_dir`, or `$XDG_CACHE_HOME/stepmetrics/spool` (`~/.cache/...`) if unset."""
        if self.spool_dir:
            return self.spool_dir
        cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        return os.path.join(cache, "stepmetrics", "spool")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> ProducerSettings:
        """Build settings from `STEPMETRICS_*` variables; unset or empty ones keep defaults.

        Raises:
            SettingsError: a variable holds a value that is not allowed; the
                message names the variable and the value.
        """
        return cls(
            **read_env(_ENV, environ, SettingsError), security=KafkaSecurity.from_env(environ)
        )


def _codec_available(name: str) -> bool:
    if name in ("none", "gzip"):
        return True
    # snappy, lz4 and zstd need `cramjam` (in the producer and processor extras).
    from aiokafka import codec

    return bool(getattr(codec, f"has_{name}", lambda: False)())


def _require(var: EnvVar[Any], value: object, ok: bool, allowed: str) -> None:
    if not ok:
        raise SettingsError(bad_value(var.name, value, allowed))
