"""Compressed batches the consumer refused, on their way from aiokafka to the worker.

aiokafka parses fetched batches in faust's consumer thread; the worker's agent
dead-letters and counts on the app's event loop. `RefusalQueue` carries each
`RefusedBatch` across, thread-safe and bounded: past `capacity` pending
refusals the details of further ones are dropped but still counted
(`take()` returns how many), so a flood of bombs costs bounded memory and is
never lost silently.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Final

from stepmetrics.processors.deadletter import DeadLetter, DeadLetterKind, RawMessage
from stepmetrics.processors.errors import BatchRefusedError

# Kept details of refusals not yet taken by the worker, at most.
MAX_PENDING_REFUSALS: Final = 1000
LAST_OFFSET_HEADER: Final = "stepmetrics-source-last-offset"
# The limit's default: twice the default fetch bound (16 MiB, STEPMETRICS_KAFKA_FETCH_MAX_BYTES).
DEFAULT_MAX_INFLATED_BYTES: Final = 32 * 1024 * 1024
# The smallest limit: a maximal envelope (900,000 bytes) in one batch always fits.
MIN_MAX_INFLATED_BYTES: Final = 1024 * 1024


@dataclass(frozen=True, slots=True)
class RefusedBatch:
    """One record batch skipped whole: where it was and why."""

    topic: str
    partition: int
    first_offset: int
    last_offset: int
    error: BatchRefusedError

    @property
    def reason(self) -> str:
        return (
            f"refused: {self.error}; offsets {self.first_offset}..{self.last_offset} skipped unread"
        )

    def dead_letter(self) -> DeadLetter:
        """A letter for the batch: no key, an empty value (its records were never read)."""
        message = RawMessage(
            topic=self.topic,
            partition=self.partition,
            offset=self.first_offset,
            key=None,
            value=b"",
            headers=((LAST_OFFSET_HEADER, str(self.last_offset).encode()),),
        )
        return DeadLetter(message, self.reason, DeadLetterKind.BATCH_REFUSED)


@dataclass(slots=True)
class RefusalQueue:
    """Thread-safe, bounded hand-over of `RefusedBatch`es (see the module docstring)."""

    capacity: int = MAX_PENDING_REFUSALS
    _pending: list[RefusedBatch] = field(default_factory=list)
    _overflow: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def put(self, refusal: RefusedBatch) -> None:
        with self._lock:
            if len(self._pending) < self.capacity:
                self._pending.append(refusal)
            else:
                self._overflow += 1

    def take(self) -> tuple[list[RefusedBatch], int]:
        """The pending refusals, and how many more were refused without details."""
        with self._lock:
            taken, overflow = self._pending, self._overflow
            self._pending, self._overflow = [], 0
        return taken, overflow


@dataclass(slots=True)
class InflateGuard:
    """The inflated-size limit of one record batch, and where refusals go."""

    limit: int = DEFAULT_MAX_INFLATED_BYTES
    refusals: RefusalQueue = field(default_factory=RefusalQueue)
