"""The worker's batch step, independent of Faust: decode, dead-letter, apply.

`BatchHandler.handle` returns only once every message of the batch is either
applied to Redis or acknowledged by the dead-letter topic, so its caller may
then commit the batch's offsets. It never raises for a bad message or an
unavailable Redis: it retries with backoff until it succeeds or is cancelled.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from stepmetrics.processors.deadletter import DeadLetter, DeadLetterSink, RawMessage
from stepmetrics.processors.errors import WriteRejectedError
from stepmetrics.processors.ratelimit import RateLimiter
from stepmetrics.processors.writes.writer import MetricsWriter, WriteResult
from stepmetrics.producers.errors import EnvelopeError
from stepmetrics.producers.events import MAX_ENVELOPE_EVENTS, Envelope, decode_envelope
from stepmetrics.store.stats import DEAD_LETTERED, ApplyCounts

logger = logging.getLogger(__name__)
_T = TypeVar("_T")
_FIRST_BACKOFF = 0.05
# A batch is split into Redis round trips of at most this many message bytes.
MAX_ROUND_TRIP_BYTES = 8 * 1024 * 1024


@dataclass(slots=True)
class WorkerCounters:
    """What this worker process did since it started (for its log lines)."""

    messages: int = 0
    applied: ApplyCounts = field(default_factory=ApplyCounts)
    dead_lettered: int = 0
    retries: int = 0
    positions: dict[tuple[str, int], int] = field(default_factory=dict)

    def summary(self) -> str:
        """`name=value` for each counter, the `P:stats` ones under their names."""
        counts = {
            "messages": self.messages,
            **self.applied.by_counter(),
            DEAD_LETTERED: self.dead_lettered,
            "retries": self.retries,
        }
        return " ".join(f"{name}={count}" for name, count in counts.items())


class BatchHandler:
    """Applies batches of raw messages; see the module docstring.

    Args:
        writer: the Redis write model.
        sink: where undecodable or rejected messages go.
        max_backoff: longest wait (seconds) between retries.
        max_events: events per envelope at most (more: dead-lettered).
    """

    def __init__(
        self,
        writer: MetricsWriter,
        sink: DeadLetterSink,
        max_backoff: float,
        max_events: int = MAX_ENVELOPE_EVENTS,
    ) -> None:
        self._writer = writer
        self._max_events = max_events
        self._sink = sink
        self._max_backoff = max_backoff
        self._dead_log = RateLimiter(interval=5.0)
        self._retry_log = RateLimiter(interval=5.0)
        self.counters = WorkerCounters()

    async def handle(self, messages: Sequence[RawMessage]) -> None:
        """Apply or dead-letter every message; return when all are durable."""
        for chunk in _chunks(messages):
            await self._handle_chunk(chunk)
        self.counters.messages += len(messages)
        for message in messages:
            self.counters.positions[(message.topic, message.partition)] = message.offset + 1

    async def _handle_chunk(self, messages: Sequence[RawMessage]) -> None:
        good: list[tuple[RawMessage, Envelope]] = []
        letters: list[DeadLetter] = []
        for message in messages:
            try:
                good.append((message, decode_envelope(message.value or b"", self._max_events)))
            except EnvelopeError as exc:
                letters.append(DeadLetter(message, f"invalid envelope: {exc}"))
        await self._dead_letter(letters)
        envelopes = [envelope for _, envelope in good]
        try:
            written = await self._retry(lambda: self._writer.write(envelopes))
        except WriteRejectedError as exc:
            logger.warning("batch rejected by Redis (%s); applying envelopes one by one", exc)
            self.counters.applied += await self._apply_one_by_one(good)
            return
        await self._dead_letter_refused(good, written)
        self.counters.applied += written.counts

    async def _apply_one_by_one(self, good: list[tuple[RawMessage, Envelope]]) -> ApplyCounts:
        total = ApplyCounts()
        for message, envelope in good:
            try:
                result = await self._retry(lambda e=envelope: self._writer.write([e]))  # type: ignore[misc]
            except WriteRejectedError as exc:
                await self._dead_letter([DeadLetter(message, f"rejected by Redis: {exc}")])
                continue
            await self._dead_letter_refused([(message, envelope)], result)
            total += result.counts
        return total

    async def _dead_letter_refused(
        self, good: list[tuple[RawMessage, Envelope]], result: WriteResult
    ) -> None:
        """Dead-letter the messages of the envelopes the writer refused."""
        if not result.refused:
            return
        messages = {id(envelope): message for message, envelope in good}
        await self._dead_letter(
            [DeadLetter(messages[id(r.envelope)], r.reason) for r in result.refused]
        )

    async def _dead_letter(self, letters: list[DeadLetter]) -> None:
        if not letters:
            return
        for letter in letters:
            await self._retry(lambda ltr=letter: self._sink.send(ltr))  # type: ignore[misc]
            self.counters.dead_lettered += 1
            allowed, suppressed = self._dead_log.allow()
            if allowed:
                source = letter.message
                logger.warning(
                    "dead-lettered %s[%s]@%s: %s (%s more since the last such line)",
                    source.topic,
                    source.partition,
                    source.offset,
                    letter.reason,
                    suppressed,
                )
        # Counted once the letters are durable on the topic (a crash before
        # the offsets are committed re-sends them, and counts them again).
        await self._retry(lambda: self._writer.count_dead_lettered(len(letters)))

    async def _retry(self, attempt: Callable[[], Awaitable[_T]]) -> _T:
        """Run `attempt` until it succeeds; only WriteRejectedError and cancellation escape."""
        delay = _FIRST_BACKOFF
        while True:
            try:
                return await attempt()
            except WriteRejectedError:
                raise
            except Exception as exc:  # noqa: BLE001 - never lose a batch: retry until it works
                self.counters.retries += 1
                allowed, suppressed = self._retry_log.allow()
                if allowed:
                    logger.warning(
                        "write failed, retrying in %.2fs (%s retries hidden): %s",
                        delay,
                        suppressed,
                        exc,
                    )
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._max_backoff)


def _chunks(messages: Sequence[RawMessage]) -> list[Sequence[RawMessage]]:
    chunks: list[Sequence[RawMessage]] = []
    start, size = 0, 0
    for i, message in enumerate(messages):
        size += len(message.value or b"")
        if size > MAX_ROUND_TRIP_BYTES and i > start:
            chunks.append(messages[start:i])
            start, size = i, len(message.value or b"")
    chunks.append(messages[start:])
    return chunks
