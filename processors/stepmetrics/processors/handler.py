"""The worker's batch step, independent of Faust: decode, dead-letter, apply.

`BatchHandler.handle` returns only once every message of the batch is either
applied to Redis or acknowledged by the dead-letter topic, so its caller may
then commit the batch's offsets. It never raises for a bad message or an
unavailable Redis: it retries with backoff until it succeeds or is cancelled.

What no retry can fix is not retried: a message that cannot be decoded (any
exception), an envelope Redis refuses or that breaks the writer (dead-lettered
with the reason), and a dead letter the broker refuses for good (too large,
invalid or forbidden topic: counted in `dead_letters_failed`, logged, and
skipped, so that one message cannot wedge the worker).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TypeVar

from stepmetrics.processors.deadletter import (
    DeadLetter,
    DeadLetterKind,
    DeadLetterSink,
    RawMessage,
)
from stepmetrics.processors.errors import WriteRejectedError
from stepmetrics.processors.failures import redis_error_kind, rejected, undeliverable
from stepmetrics.processors.ratelimit import RateLimiter
from stepmetrics.processors.telemetry import RetryOperation, WorkerTelemetry
from stepmetrics.processors.writes.writer import MetricsWriter, Refusal, WriteResult
from stepmetrics.producers.errors import EnvelopeError
from stepmetrics.producers.events import MAX_ENVELOPE_EVENTS, Envelope, decode_envelope
from stepmetrics.producers.excerpt import excerpt
from stepmetrics.store.stats import DEAD_LETTERED, DEAD_LETTERS_FAILED, ApplyCounts

logger = logging.getLogger(__name__)
_T = TypeVar("_T")
_FIRST_BACKOFF = 0.05
# A batch is split into Redis round trips of at most this many message bytes.
MAX_ROUND_TRIP_BYTES = 8 * 1024 * 1024
_SEND: RetryOperation = "dead_letter_send"
_REJECTED = DeadLetterKind.REJECTED_BY_REDIS
_NOT_APPLICABLE = DeadLetterKind.NOT_APPLICABLE


@dataclass(slots=True)
class WorkerCounters:
    """What this worker process did since it started (for its log lines)."""

    messages: int = 0
    applied: ApplyCounts = field(default_factory=ApplyCounts)
    dead_lettered: int = 0
    retries: int = 0
    dead_letters_failed: int = 0
    positions: dict[tuple[str, int], int] = field(default_factory=dict)

    def summary(self) -> str:
        """`name=value` for each counter, the `P:stats` ones under their names."""
        counts = {
            "messages": self.messages,
            **self.applied.by_counter(),
            DEAD_LETTERED: self.dead_lettered,
            "retries": self.retries,
            DEAD_LETTERS_FAILED: self.dead_letters_failed,
        }
        return " ".join(f"{name}={count}" for name, count in counts.items())


class BatchHandler:
    """Applies batches of raw messages; see the module docstring.

    Args:
        writer: the Redis write model.
        sink: where undecodable or rejected messages go.
        max_backoff: longest wait (seconds) between retries.
        count: adds to a `P:stats` counter (name, amount).
        max_events: events per envelope at most (more: dead-lettered).
        telemetry: where the Prometheus metrics are recorded (a new one if None).
    """

    def __init__(
        self,
        writer: MetricsWriter,
        sink: DeadLetterSink,
        max_backoff: float,
        count: Callable[[str, int], Awaitable[None]],
        max_events: int = MAX_ENVELOPE_EVENTS,
        telemetry: WorkerTelemetry | None = None,
    ) -> None:
        self._writer = writer
        self._max_events = max_events
        self._sink = sink
        self._max_backoff = max_backoff
        self._count = count
        self._dead_log = RateLimiter(interval=5.0)
        self._failed_log = RateLimiter(interval=5.0)
        self._retry_log = RateLimiter(interval=5.0)
        self.counters = WorkerCounters()
        self.telemetry = WorkerTelemetry() if telemetry is None else telemetry

    async def handle(self, messages: Sequence[RawMessage]) -> None:
        """Apply or dead-letter every message; return when all are durable."""
        started = time.perf_counter()
        for chunk in _chunks(messages):
            await self._handle_chunk(chunk)
        self.counters.messages += len(messages)
        self.telemetry.batch_done(len(messages), time.perf_counter() - started)
        for message in messages:
            self.counters.positions[(message.topic, message.partition)] = message.offset + 1

    async def _handle_chunk(self, messages: Sequence[RawMessage]) -> None:
        good: list[tuple[RawMessage, Envelope]] = []
        letters: list[DeadLetter] = []
        for message in messages:
            decoded = _decode(message, self._max_events)
            if isinstance(decoded, DeadLetter):
                letters.append(decoded)
            else:
                good.append((message, decoded))
        await self._dead_letter(letters)
        envelopes = [envelope for _, envelope in good]
        try:
            written = await self._retry(lambda: self._writer.write(envelopes), rejected)
        except Exception as exc:  # noqa: BLE001 - only rejections escape _retry
            logger.warning("batch rejected (%s); applying envelopes one by one", excerpt(exc))
            written = await self._apply_one_by_one(good)
        await self._dead_letter_refused(good, written)
        self.counters.applied += written.counts
        self.telemetry.applied(written.counts)

    async def _apply_one_by_one(self, good: list[tuple[RawMessage, Envelope]]) -> WriteResult:
        total, refused = ApplyCounts(), tuple[Refusal, ...]()
        for message, envelope in good:
            try:
                result = await self._retry(partial(self._writer.write, [envelope]), rejected)
            except WriteRejectedError as exc:
                reason = f"rejected by Redis: {exc}"
                await self._dead_letter([DeadLetter(message, reason, _REJECTED)])
                continue
            except Exception as exc:  # noqa: BLE001 - only rejections escape _retry
                reason = f"cannot be applied: {type(exc).__name__}: {excerpt(str(exc))}"
                await self._dead_letter([DeadLetter(message, reason, _NOT_APPLICABLE)])
                continue
            total += result.counts
            refused += result.refused
        return WriteResult(total, refused)

    async def _dead_letter_refused(
        self, good: list[tuple[RawMessage, Envelope]], result: WriteResult
    ) -> None:
        """Dead-letter, in message order, the envelopes the writer refused (a bound bit)."""
        if not result.refused:
            return
        reasons = {id(refusal.envelope): refusal.reason for refusal in result.refused}
        await self._dead_letter(
            [
                DeadLetter(message, f"refused: {reasons[id(envelope)]}", DeadLetterKind.REFUSED)
                for message, envelope in good
                if id(envelope) in reasons
            ]
        )

    async def _dead_letter(self, letters: list[DeadLetter]) -> None:
        if not letters:
            return
        sent = failed = 0
        for letter in letters:
            try:
                await self._retry(partial(self._sink.send, letter), undeliverable, _SEND)
            except Exception as exc:  # noqa: BLE001 - only undeliverable letters escape _retry
                failed += 1
                self.telemetry.dead_letter_failed(letter.kind)
                self._log_failed(letter, exc)
                continue
            sent += 1
            self.telemetry.dead_lettered(letter.kind)
            self._log_dead(letter)
        # Counted once the letters are durable on the topic (a crash before
        # the offsets are committed re-sends them, and counts them again).
        if sent:
            self.counters.dead_lettered += sent
            await self._retry(lambda: self._writer.count_dead_lettered(sent), rejected)
        if failed:
            self.counters.dead_letters_failed += failed
            await self._retry(lambda: self._count(DEAD_LETTERS_FAILED, failed), rejected)

    def _log_dead(self, letter: DeadLetter) -> None:
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

    def _log_failed(self, letter: DeadLetter, exc: BaseException) -> None:
        allowed, suppressed = self._failed_log.allow()
        if allowed:
            source = letter.message
            logger.error(
                "LOST %s[%s]@%s: its dead letter (%s) was refused for good: %s; skipped "
                "(%s more since the last such line; counted in %s)",
                source.topic,
                source.partition,
                source.offset,
                letter.reason,
                excerpt(str(exc)),
                suppressed,
                DEAD_LETTERS_FAILED,
            )

    async def _retry(
        self,
        attempt: Callable[[], Awaitable[_T]],
        gives_up: Callable[[BaseException], bool],
        operation: RetryOperation = "redis_write",
    ) -> _T:
        """Run `attempt` until it succeeds; only what `gives_up` accepts (or a cancel) escapes."""
        delay = _FIRST_BACKOFF
        while True:
            try:
                return await attempt()
            except Exception as exc:  # never lose a batch: retry until it works
                kind = redis_error_kind(exc) if operation == "redis_write" else None
                if kind is not None:
                    self.telemetry.redis_error(kind)
                if gives_up(exc):
                    raise
                self.counters.retries += 1
                self.telemetry.retried(operation)
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


def _decode(message: RawMessage, max_events: int) -> Envelope | DeadLetter:
    """The envelope, or the dead letter saying why there is none: never raises."""
    try:
        return decode_envelope(message.value or b"", max_events)
    except EnvelopeError as exc:
        return DeadLetter(message, f"invalid envelope: {exc}", DeadLetterKind.INVALID_ENVELOPE)
    except Exception as exc:  # noqa: BLE001 - a decoder bug must not stop the worker
        reason = f"undecodable envelope: {type(exc).__name__}: {excerpt(str(exc))}"
        return DeadLetter(message, reason, DeadLetterKind.UNDECODABLE)


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
