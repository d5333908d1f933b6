"""The background sender: rounds of drain, coalesce, deliver, in a loop thread.

It works in rounds: drain the buffer, coalesce into envelopes (`Batcher`),
send the envelopes not yet acknowledged (`Outbox.sendable`, oldest first) through
`Delivery`, wait for the acks. An envelope that failed stays in the outbox as
the SAME bytes (same `producer_id:seq`), so a re-send is a duplicate the
processor recognizes. Retriable failures are retried with exponential backoff
for as long as it takes; the buffer keeps every unacknowledged value counted,
so an outage ends in blocked and then dropped `record_*` calls, never in
unbounded memory. An envelope refused for good (`delivery.is_fatal`) is
spooled (`SenderSpool.refused`) for `stepmetrics sync`. The loop runs in its
own daemon thread (`LoopThread`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any, Final, TypeVar

from stepmetrics.producers.batcher import Batcher, Outgoing
from stepmetrics.producers.buffer import Buffer
from stepmetrics.producers.context import StepContext
from stepmetrics.producers.delivery import STOP_TIMEOUT, Delivery, Receipt
from stepmetrics.producers.events import WireEvent
from stepmetrics.producers.loop_thread import LoopThread
from stepmetrics.producers.outbox import FlushRequest, Outbox
from stepmetrics.producers.sender_spool import SenderSpool
from stepmetrics.producers.settings import ProducerSettings
from stepmetrics.producers.spool_sync import spool_files, sync_directory

log = logging.getLogger(__name__)
T = TypeVar("T")

_FIRST_BACKOFF: Final = 0.1
# Recreate the aiokafka producer after this many failed rounds in a row.
_RECONNECT_AFTER: Final = 3


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
        self._buffer = buffer
        self._batcher = Batcher(producer_id, settings.batch_max_bytes, settings.batch_max_events)
        self._outbox = Outbox()
        self._delivery = Delivery(settings)
        self._spool = SenderSpool(settings, producer_id)
        self._data = asyncio.Event()
        self._urgent = asyncio.Event()
        self._closing = False
        self._closed = asyncio.Event()
        self._failed_rounds = 0
        self._on_exit = on_exit
        self._thread = LoopThread("stepmetrics-sender", self._main, self._stopped, self._exited)

    def start(self) -> None:
        """Start the thread; values already in the buffer are sent too."""
        self._buffer.on_data = lambda: self._thread.call(self._data.set)
        self._buffer.on_urgent = lambda: self._thread.call(self._wake)
        self._thread.start()
        self._thread.call(self._data.set)  # items queued before the hooks existed

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every value recorded before this call is acknowledged."""
        request = FlushRequest()
        if not self._thread.call(self._add_flush, request):
            return self._buffer.stats().pending == 0
        return request.wait(timeout, self._thread.is_alive)

    def close(self, timeout: float | None = None) -> bool:
        """Flush within `timeout`, then stop the producer and the thread."""
        ok = self.flush(timeout)
        self._buffer.on_data = self._buffer.on_urgent = None
        if self._thread.call(self._begin_close):
            self._thread.join(STOP_TIMEOUT + 1.0)
        if self._thread.is_alive() and self._thread.cancel():
            # Stuck in a produce attempt against an unresponsive broker.
            self._thread.join(STOP_TIMEOUT + 1.0)
        return ok

    def _wake(self) -> None:
        self._data.set()
        self._urgent.set()

    def _add_flush(self, request: FlushRequest) -> None:
        self._outbox.add_flush(request)
        self._wake()

    def _begin_close(self) -> None:
        self._closing = True
        self._closed.set()
        self._wake()

    def _stopped(self, error: BaseException | None) -> None:
        """The loop's main ended: count what this sender still held as failed
        (a close() whose flush timed out, or a crash) and release the flushes."""
        if isinstance(error, asyncio.CancelledError):
            log.warning("stepmetrics sender stopped with %d envelope(s) unsent", len(self._outbox))
        elif error is not None:  # a crashed sender must say so, loudly
            log.error("stepmetrics sender crashed; metrics are no longer delivered", exc_info=error)
        self._buffer.on_data = self._buffer.on_urgent = None
        undelivered = list(self._outbox)
        self._outbox.give_up()
        # A close gives up the buffer too; after a crash a new sender sends it.
        remaining = self._build(*self._buffer.drain()) if self._closing else []
        spooled, refused = self._spool.stop(undelivered, remaining)
        if refused:
            log.warning("stepmetrics: %d metric value(s) were not delivered", refused)
        self._buffer.release(failed=refused, spooled=spooled)
        self._outbox.abandon_flushes()

    def _exited(self) -> None:
        if self._on_exit is not None:
            self._on_exit(self)

    async def _main(self) -> None:
        catch_up = None
        if not self._spool.offline and spool_files(Path(self._spool.directory)):
            catch_up = asyncio.ensure_future(self._send_earlier_spools())
        try:
            while not self._closing:
                await self._wait_for_work()
                if self._closing:
                    break
                retry = await self._round()
                if retry:
                    await self._backoff()
                elif self._outbox:  # held back by the seq window: send them now
                    self._wake()
        finally:
            if catch_up is not None:
                catch_up.cancel()
            await self._delivery.stop()

    async def _send_earlier_spools(self) -> None:
        """What earlier runs spooled for this topic (a later `stepmetrics sync` too)."""
        try:
            report = await sync_directory(self._settings, topic=self._settings.topic)
        except Exception:  # the spool stays for `stepmetrics sync`
            log.warning("stepmetrics: sending earlier spool files failed", exc_info=True)
            return
        if report.envelopes:
            log.info("stepmetrics: %d spooled envelope(s) of earlier runs sent", report.envelopes)

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
        if self._spool.writes_first:
            closed = asyncio.ensure_future(self._closed.wait())
            try:
                await self._spooling_until(closed, delay)
            finally:
                closed.cancel()
        else:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closed.wait(), delay)
        if self._failed_rounds % _RECONNECT_AFTER == 0:
            await self._durably(self._delivery.stop())  # the next round connects afresh
        self._data.set()  # retry even if nothing new was recorded

    def _build(self, ctxs: Sequence[StepContext], events: Sequence[WireEvent]) -> list[Outgoing]:
        if not events:
            return []
        failed_before = self._batcher.failed_values
        built = self._batcher.build(ctxs, events)
        if unencodable := self._batcher.failed_values - failed_before:
            self._buffer.release(failed=unencodable)
        return built

    def _keep(self, built: list[Outgoing]) -> None:
        """Durable and offline modes: the new envelopes go to disk first."""
        refused = self._spool.keep(built)
        if self._spool.offline:
            written = sum(out.values for out in built) - refused
            self._buffer.release(failed=refused, spooled=written)
        else:  # durable: what the cap refused is still sent, from memory
            self._outbox.add(built)

    def _take_new(self) -> None:
        """Drain the buffer into the outbox (through the spool in durable and offline modes)."""
        built = self._build(*self._buffer.drain())
        if not self._spool.writes_first:
            self._outbox.add(built)
        elif built:
            self._keep(built)

    async def _durably(self, work: Coroutine[Any, Any, T]) -> T:
        """Await `work`; durable mode keeps spooling what is recorded meanwhile
        (a send waiting for acks, a producer stopping against a frozen broker)."""
        if not self._spool.writes_first:
            return await work
        task = asyncio.ensure_future(work)
        try:
            await self._spooling_until(task)
        except BaseException:
            task.cancel()
            raise
        return await task

    async def _spooling_until(self, future: asyncio.Future[Any], within: float = 1e9) -> None:
        """Durable mode: wait for `future` (at most `within` s), meanwhile taking
        what is recorded to the disk every linger interval, not once acks are in."""
        interval = max(self._settings.linger_ms, 1) / 1000
        deadline = asyncio.get_running_loop().time() + within
        while not future.done():
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                return
            await asyncio.wait({future}, timeout=min(interval, left))
            self._take_new()

    def _release(self, receipt: Receipt, given_up: Sequence[Outgoing]) -> None:
        """Count a receipt: what the broker refused for good goes to the spool."""
        spooled, failed = self._spool.refused(given_up, receipt.refusal) if given_up else (0, 0)
        self._buffer.release(receipt.delivered, failed, spooled)

    async def _round(self) -> bool:
        """One round; True when an envelope sent was not settled (retry later)."""
        self._take_new()
        # Everything recorded before a pending flush() is in the outbox now.
        self._outbox.arm_flushes()
        retry = False
        if self._outbox:
            sending = self._outbox.sendable()
            receipt = await self._durably(self._delivery.send(sending))
            retry = len(receipt.settled) < len(sending)
            if receipt.settled:
                self._outbox.settle(receipt.settled)
                self._release(receipt, [out for out in sending if out.number in receipt.given_up])
            if self._spool.writes_first:
                self._spool.settled(list(self._outbox))
        if not retry:
            self._failed_rounds = 0
        self._outbox.complete_flushes()
        return retry
