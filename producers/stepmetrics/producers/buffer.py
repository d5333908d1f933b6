"""The bounded in-memory buffer between recording threads and the sender.

Capacity is counted in metric values (a scalar is one, a list of k values is
k) and a value stays counted until the broker acknowledges it (or it is given
up), so the buffer bounds ALL the memory the producer holds, the envelopes in
flight and awaiting a retry included.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class BufferStats:
    """Counters of one producer, in metric values.

    Attributes:
        recorded: values accepted for delivery.
        delivered: values acknowledged by the broker.
        dropped: values refused because the buffer stayed full.
        failed: accepted values given up after a non-retriable broker error.
        spooled: accepted values written to the spool for `stepmetrics sync`.
        pending: accepted values neither delivered, spooled nor given up yet.
    """

    recorded: int
    delivered: int
    dropped: int
    failed: int
    spooled: int = 0

    @property
    def pending(self) -> int:
        return self.recorded - self.delivered - self.failed - self.spooled


class Buffer:
    """A FIFO of buffered events with blocking admission and delivery counters.

    `put` is the hot path: one lock round-trip and two deque appends. The sender
    is notified through `on_data` once per drain cycle (the first put after a
    drain) and again through `on_urgent` when a quarter of the capacity waits.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._urgent_at = max(1, capacity // 4)
        # `with self._lock` is a C-level enter; the Condition shares the lock
        # and is only used to wait for room and to wake waiters.
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        # Two parallel FIFOs: the step context of each event, and the event.
        self._ctxs: deque[Any] = deque()
        self._events: deque[Any] = deque()
        self._held = 0  # values recorded and not yet delivered or failed
        self._undrained = 0
        self._signalled = False
        self._urgent_signalled = False
        self._recorded = 0
        self._delivered = 0
        self._dropped = 0
        self._failed = 0
        self._spooled = 0
        self.on_data: Callable[[], object] | None = None
        self.on_urgent: Callable[[], object] | None = None

    def put(self, ctx: Any, event: Any, values: int, block_timeout: float) -> bool:
        """Queue `event` of `ctx` (worth `values` values); False if dropped because full.

        Waits up to `block_timeout` seconds for room. An item larger than the
        whole capacity is admitted once the buffer is empty, so that every
        item can eventually pass.
        """
        with self._lock:
            held = self._held
            if held and held + values > self.capacity and not self._wait(values, block_timeout):
                self._dropped += values
                return False
            self._ctxs.append(ctx)
            self._events.append(event)
            self._held += values
            self._recorded += values
            self._undrained += values
            # Read each callback once: the sender thread clears them when it stops.
            on_data, on_urgent = self.on_data, self.on_urgent
            if not self._signalled and on_data is not None:
                self._signalled = True
                on_data()
            if (
                self._undrained >= self._urgent_at
                and not self._urgent_signalled
                and on_urgent is not None
            ):
                self._urgent_signalled = True
                on_urgent()
        return True

    def _wait(self, values: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self._held and self._held + values > self.capacity:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self._cond.wait(remaining)
        return True

    def drain(self) -> tuple[deque[Any], deque[Any]]:
        """Take every queued (contexts, events), oldest first (still counted as held)."""
        with self._lock:
            ctxs, events = self._ctxs, self._events
            self._ctxs, self._events = deque(), deque()
            self._undrained = 0
            self._signalled = False
            self._urgent_signalled = False
        return ctxs, events

    def release(self, delivered: int = 0, failed: int = 0, spooled: int = 0) -> None:
        """Give back room for values that were delivered, given up or spooled."""
        with self._cond:
            self._held -= delivered + failed + spooled
            self._delivered += delivered
            self._failed += failed
            self._spooled += spooled
            self._cond.notify_all()

    def stats(self) -> BufferStats:
        """A consistent snapshot of the counters."""
        with self._lock:
            return BufferStats(
                self._recorded, self._delivered, self._dropped, self._failed, self._spooled
            )
