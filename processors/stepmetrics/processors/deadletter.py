"""Messages the worker cannot apply, and where they go.

A bad message never stops the worker: its original bytes go to the dead-letter
topic with headers saying why and where it came from. A dead letter fits one
byte budget by construction (`DeadLetter.fit`): the message that made it may
be as large as the broker allowed, and the letter also carries our headers,
so an oversized original is cut (a header says what was cut and gives the
original sizes) rather than refused by the producer or the broker forever.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Final, Protocol

REASON_HEADER: Final = "stepmetrics-reason"
SOURCE_TOPIC_HEADER: Final = "stepmetrics-source-topic"
SOURCE_PARTITION_HEADER: Final = "stepmetrics-source-partition"
SOURCE_OFFSET_HEADER: Final = "stepmetrics-source-offset"
# Present only on a cut letter: "key=K,value=V,headers=H", the original byte
# sizes (key and value: -1 for null; headers: names and values together).
TRUNCATED_HEADER: Final = "stepmetrics-truncated"
MAX_REASON_BYTES: Final = 1000
# Kafka's framing, counted in the budget so that the budget bounds the record
# batch the producer sends: a batch header (61 bytes) and a record's varints
# (at most 21 bytes) with room to spare, and two varints per header.
RECORD_OVERHEAD: Final = 128
HEADER_OVERHEAD: Final = 10
# Room kept for the truncation header itself (its numbers have <= 20 digits).
_TRUNCATION_RESERVE: Final = len(TRUNCATED_HEADER) + HEADER_OVERHEAD + 90
# The smallest budget that always holds the worker's own headers.
MIN_DEAD_LETTER_BYTES: Final = 4096

Headers = Sequence[tuple[str, bytes | None]]


class DeadLetterKind(StrEnum):
    """Why a message was dead-lettered, as a fixed set (the reason text has the detail).

    The worker's `/metrics` counts dead letters by these values (a bounded label).
    """

    # Not a valid envelope (bad JSON, a field of the wrong type, too many events...).
    INVALID_ENVELOPE = "invalid_envelope"
    # The decoder raised something else (a bug, or input it cannot handle).
    UNDECODABLE = "undecodable"
    # Redis refused the envelope's write for good (alone, after its batch failed).
    REJECTED_BY_REDIS = "rejected_by_redis"
    # Writing the envelope raised an error that is not Redis's.
    NOT_APPLICABLE = "cannot_be_applied"
    # The apply script refused it for a bound: too many producers, seq too
    # large, pipeline/deployment disagreeing with the execution's.
    REFUSED = "refused"


@dataclass(frozen=True, slots=True)
class RawMessage:
    """One consumed Kafka message, independent of the consumer library."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Headers = ()


@dataclass(frozen=True, slots=True)
class LetterRecord:
    """What is produced to the dead-letter topic for one message."""

    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes | None]]

    @property
    def size(self) -> int:
        """Bytes this record counts against the budget (framing included)."""
        return RECORD_OVERHEAD + _len(self.key) + _len(self.value) + _headers_size(self.headers)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A message to dead-letter: the original plus why it was rejected."""

    message: RawMessage
    reason: str
    kind: DeadLetterKind

    def fit(self, max_bytes: int) -> LetterRecord:
        """The letter as one record of at most `max_bytes` (>= `MIN_DEAD_LETTER_BYTES`).

        Whole if it fits. Otherwise the original headers are kept in order
        while they fill at most a quarter of the room, the key is cut to at
        most a quarter, and the value fills the rest.
        """
        source = self.message
        ours = self._our_headers()
        whole = LetterRecord(source.key, source.value, [*source.headers, *ours])
        if whole.size <= max_bytes:
            return whole
        room = max_bytes - RECORD_OVERHEAD - _headers_size(ours) - _TRUNCATION_RESERVE
        kept: list[tuple[str, bytes | None]] = []
        used = 0
        for header in source.headers:
            used += _headers_size([header])
            if used > room // 4:
                break
            kept.append(header)
        room -= _headers_size(kept)
        key = None if source.key is None else source.key[: room // 4]
        room -= _len(key)
        value = None if source.value is None else source.value[: max(room, 0)]
        sizes = f"key={_size(source.key)},value={_size(source.value)}"
        cut = f"{sizes},headers={_headers_size(source.headers, overhead=0)}"
        return LetterRecord(key, value, [*kept, *ours, (TRUNCATED_HEADER, cut.encode())])

    def _our_headers(self) -> list[tuple[str, bytes | None]]:
        source = self.message
        reason = self.reason.encode(errors="replace")[:MAX_REASON_BYTES]
        return [
            # A cut may split a UTF-8 sequence: drop the broken tail.
            (REASON_HEADER, reason.decode(errors="ignore").encode()),
            (SOURCE_TOPIC_HEADER, source.topic.encode()),
            (SOURCE_PARTITION_HEADER, str(source.partition).encode()),
            (SOURCE_OFFSET_HEADER, str(source.offset).encode()),
        ]


def _len(data: bytes | None) -> int:
    return 0 if data is None else len(data)


def _size(data: bytes | None) -> int:
    return -1 if data is None else len(data)


def _headers_size(headers: Headers, overhead: int = HEADER_OVERHEAD) -> int:
    return sum(len(name.encode(errors="replace")) + _len(v) + overhead for name, v in headers)


class DeadLetterSink(Protocol):
    """Where dead letters are produced (the Faust adapter implements it)."""

    async def send(self, letter: DeadLetter) -> None:
        """Produce `letter` and return once the broker has acknowledged it."""
