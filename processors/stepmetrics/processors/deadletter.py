"""Messages the worker cannot apply, and where they go.

A bad message never stops the worker: its original bytes go to the dead-letter
topic with headers saying why and where it came from.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Protocol

from stepmetrics.producers.events import MAX_ENVELOPE_BYTES

REASON_HEADER: Final = "stepmetrics-reason"
SOURCE_TOPIC_HEADER: Final = "stepmetrics-source-topic"
SOURCE_PARTITION_HEADER: Final = "stepmetrics-source-partition"
SOURCE_OFFSET_HEADER: Final = "stepmetrics-source-offset"
ORIGINAL_SIZE_HEADER: Final = "stepmetrics-original-size"
# An oversized message cannot be forwarded whole (the broker's and producer's
# limits are what made it oversized): only its head is kept, flagged by header.
MAX_DEAD_LETTER_BYTES: Final = MAX_ENVELOPE_BYTES
_MAX_REASON_CHARS: Final = 1000


@dataclass(frozen=True, slots=True)
class RawMessage:
    """One consumed Kafka message, independent of the consumer library."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes]] = ()


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A message to dead-letter: the original plus why it was rejected."""

    message: RawMessage
    reason: str

    @property
    def value(self) -> bytes | None:
        """The original value, cut to `MAX_DEAD_LETTER_BYTES` if longer."""
        value = self.message.value
        return value if value is None else value[:MAX_DEAD_LETTER_BYTES]

    def headers(self) -> list[tuple[str, bytes]]:
        """The original headers plus reason, source position and, if cut, size."""
        source = self.message
        headers = [
            *source.headers,
            (REASON_HEADER, self.reason[:_MAX_REASON_CHARS].encode()),
            (SOURCE_TOPIC_HEADER, source.topic.encode()),
            (SOURCE_PARTITION_HEADER, str(source.partition).encode()),
            (SOURCE_OFFSET_HEADER, str(source.offset).encode()),
        ]
        if source.value is not None and len(source.value) > MAX_DEAD_LETTER_BYTES:
            headers.append((ORIGINAL_SIZE_HEADER, str(len(source.value)).encode()))
        return headers


class DeadLetterSink(Protocol):
    """Where dead letters are produced (the Faust adapter implements it)."""

    async def send(self, letter: DeadLetter) -> None:
        """Produce `letter` and return once the broker has acknowledged it."""
