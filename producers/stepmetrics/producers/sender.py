"""The background sender: a thread with its own asyncio loop and aiokafka producer.

It works in rounds: drain the buffer, coalesce into envelopes (`Batcher`),
send every envelope not yet acknowledged (oldest first), wait for the acks.
An envelope that failed stays in the outbox as the SAME bytes (same
`producer_id:seq`), so a re-send is a duplicate the processor recognizes.
Retriable failures are retried with exponential backoff for as long as it
takes; the buffer keeps every unacknowledged value counted, so an outage ends
in blocked and then dropped `record_*` calls, never in unbounded memory.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Final

from stepmetrics.producers.batcher import Batcher, Outgoing
from stepmetrics.producers.buffer import Buffer
from stepmetrics.producers.settings import ProducerSettings

log = logging.getLogger(__name__)

# Errors that no retry can fix: the envelope is given up, counted and logged.
_FATAL_ERRORS: Final = frozenset(
    {
        "MessageSizeTooLargeError",
        "RecordListTooLargeError",
        "RecordTooLargeError",
        "InvalidTopicError",
        "TopicAuthorizationFailedError",
        "UnsupportedCodecError",
        "KafkaConfigurationError",
        "InvalidRequiredAcksError",
    }
)
_FIRST_BACKOFF: Final = 0.1
# Recreate the aiokafka producer after this many failed rounds in a row.
_RECONNECT_AFTER: Final = 3
_STOP_TIMEOUT: Final = 5.0


class _InlineExecutor(concurrent.futures.ThreadPoolExecutor):
    """Runs the loop's blocking helpers (DNS lookups) in the sender thread itself.

    asyncio's default executor starts threads, which the interpreter refuses
    once it shuts down: exactly when the exit flush may need to resolve the
    broker's host name to reconnect.
    """

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> concurrent.futures.Future[Any]:
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001 - handed to the awaiting caller
            future.set_exception(exc)
        return future


class _FlushRequest:
    __slots__ = ("done", "ok", "target")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.ok = False
        self.target = -1


class Sender:
    """Delivers what `buffer` holds; `start()` once, `close()` drains and stops."""

    def __init__(
        self,
        settings: ProducerSettings,
        buffer: Buffer,
        producer_id: str,
        on_exit: Callable[[Sender], None] | None = None,
    ) -> None:
        self._settings = settings
        self._on_exit = on_exit
        self._buffer = buffer
        self._batcher = Batcher(producer_id, settings.batch_max_bytes, settings.batch_max_events)
        self._loop = asyncio.new_event_loop()
        self._loop.set_default_executor(_InlineExecutor(max_workers=1))
        self._data = asyncio.Event()
        self._urgent = asyncio.Event()
        self._closing = False
        self._closed = asyncio.Event()
        self._main_task: asyncio.Task[None] | None = None
        self._outbox: list[Outgoing] = []
        self._new_flushes: list[_FlushRequest] = []
        self._flushes: list[_FlushRequest] = []
        self._producer: Any = None
        self._failed_rounds = 0
        self._thread = threading.Thread(target=self._run, name="stepmetrics-sender", daemon=True)

    def start(self) -> None:
        self._buffer.on_data = lambda: self._call(self._data.set)
        self._buffer.on_urgent = lambda: self._call(self._wake)
        self._thread.start()
        self._call(self._data.set)  # items queued before the hooks existed

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every value recorded before this call is acknowledged."""
        request = _FlushRequest()
        if not self._call(self._add_flush, request):
            return self._buffer.stats().pending == 0
        deadline = None if timeout is None else time.monotonic() + timeout
        while not request.done.wait(0.2 if deadline is None else min(0.2, _left(deadline))):
            if not self._thread.is_alive() or (deadline is not None and _left(deadline) <= 0):
                return False
        return request.ok

    def close(self, timeout: float | None = None) -> bool:
        """Flush within `timeout`, then stop the producer and the thread."""
        ok = self.flush(timeout)
        self._buffer.on_data = self._buffer.on_urgent = None
        if self._call(self._begin_close):
            self._thread.join(_STOP_TIMEOUT + 1.0)
        if self._thread.is_alive() and self._call(self._cancel_main):
            # Stuck in a produce attempt against an unresponsive broker.
            self._thread.join(_STOP_TIMEOUT + 1.0)
        return ok

    def _call(self, callback: Any, *args: Any) -> bool:
        """Run `callback` on the sender loop; False when the loop is gone."""
        try:
            self._loop.call_soon_threadsafe(callback, *args)
        except RuntimeError:  # the loop is closed: the sender has stopped
            return False
        return True

    def _wake(self) -> None:
        self._data.set()
        self._urgent.set()

    def _add_flush(self, request: _FlushRequest) -> None:
        self._new_flushes.append(request)
        self._wake()

    def _begin_close(self) -> None:
        self._closing = True
        self._closed.set()
        self._wake()

    def _cancel_main(self) -> None:
        if self._main_task is not None:
            self._main_task.cancel()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._main_task = self._loop.create_task(self._main())
            self._loop.run_until_complete(self._main_task)
        except asyncio.CancelledError:
            log.warning("stepmetrics sender stopped with %d envelope(s) unsent", len(self._outbox))
        except BaseException:  # a crashed sender must say so, loudly
            log.exception("stepmetrics sender crashed; metrics are no longer delivered")
        finally:
            self._buffer.on_data = self._buffer.on_urgent = None
            self._give_up_outbox()
            for request in self._flushes + self._new_flushes:
                request.done.set()  # ok stays False
            self._loop.close()
            if self._on_exit is not None:
                self._on_exit(self)

    def _give_up_outbox(self) -> None:
        """Count what this sender still held as failed (and free its room):
        a close() whose flush timed out, or a crash."""
        lost = sum(out.values for out in self._outbox)
        if lost:
            log.warning("stepmetrics: %d metric value(s) were not delivered", lost)
            self._buffer.release(failed=lost)
        self._outbox.clear()

    async def _main(self) -> None:
        try:
            while not self._closing:
                await self._wait_for_work()
                if self._closing:
                    break
                await self._round()
                if self._outbox:
                    await self._backoff()
        finally:
            if self._producer is not None:
                await self._stop_producer()

    async def _wait_for_work(self) -> None:
        await self._data.wait()
        if not self._urgent.is_set() and self._settings.linger_ms:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._urgent.wait(), self._settings.linger_ms / 1000)
        self._data.clear()
        self._urgent.clear()

    async def _backoff(self) -> None:
        self._failed_rounds += 1
        delay = min(
            self._settings.retry_backoff_max, _FIRST_BACKOFF * 2 ** (self._failed_rounds - 1)
        )
        log.warning(
            "stepmetrics: %d envelope(s) not acknowledged yet; retrying in %.1fs",
            len(self._outbox),
            delay,
        )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closed.wait(), delay)
        if self._failed_rounds % _RECONNECT_AFTER == 0 and self._producer is not None:
            await self._stop_producer()
        self._data.set()  # retry even if nothing new was recorded

    async def _round(self) -> None:
        ctxs, events = self._buffer.drain()
        if events:
            self._outbox.extend(self._batcher.build(ctxs, events))
        for request in self._new_flushes:
            request.target = self._batcher.next_seq
        self._flushes.extend(self._new_flushes)
        self._new_flushes.clear()
        if self._outbox:
            await self._deliver()
        if not self._outbox:
            self._failed_rounds = 0
        low = self._outbox[0].seq if self._outbox else self._batcher.next_seq
        for request in [r for r in self._flushes if r.target <= low]:
            request.ok = True
            request.done.set()
        self._flushes = [r for r in self._flushes if r.target > low]

    async def _deliver(self) -> None:
        sent: list[tuple[Outgoing, asyncio.Future[Any]]] = []
        try:
            producer = await self._ensure_producer()
            for out in self._outbox:
                future = await producer.send(self._settings.topic, out.data, key=out.key)
                sent.append((out, future))
        except Exception as exc:  # noqa: BLE001 - any failure here is retried
            log.warning("stepmetrics: sending failed (%r); will retry", exc)
        results = await asyncio.gather(*(f for _, f in sent), return_exceptions=True)
        settled: set[int] = set()
        delivered = failed = 0
        for (out, _), result in zip(sent, results, strict=True):
            if not isinstance(result, BaseException):
                settled.add(out.seq)
                delivered += out.values
            elif type(result).__name__ in _FATAL_ERRORS:
                log.error("stepmetrics: %d metric values lost: %r", out.values, result)
                settled.add(out.seq)
                failed += out.values
            else:
                log.warning("stepmetrics: delivery failed (%r); will retry", result)
        if settled:
            self._outbox = [out for out in self._outbox if out.seq not in settled]
            self._buffer.release(delivered, failed)

    async def _ensure_producer(self) -> Any:
        if self._producer is None:
            from aiokafka import AIOKafkaProducer  # lazy: keeps `import` of the SDK light

            s = self._settings
            producer = AIOKafkaProducer(
                bootstrap_servers=s.bootstrap,
                client_id="stepmetrics-sdk",
                acks="all" if s.acks == "all" else 1,
                compression_type=None if s.compression == "none" else s.compression,
                enable_idempotence=s.enable_idempotence,
                request_timeout_ms=s.request_timeout_ms,
                max_batch_size=1_048_576,
                linger_ms=0,  # the SDK lingers itself, before coalescing
            )
            try:
                await producer.start()
            except BaseException:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(producer.stop(), _STOP_TIMEOUT)
                raise
            self._producer = producer
        return self._producer

    async def _stop_producer(self) -> None:
        producer, self._producer = self._producer, None
        try:
            await asyncio.wait_for(producer.stop(), _STOP_TIMEOUT)
        except Exception as exc:  # noqa: BLE001 - a stuck broker must not block exit
            log.warning("stepmetrics: stopping the Kafka producer failed: %r", exc)


def _left(deadline: float) -> float:
    return max(0.0, deadline - time.monotonic())
