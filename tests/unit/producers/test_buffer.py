"""The bounded buffer between the step's record calls and the sender."""

from __future__ import annotations

import threading
import time

from stepmetrics.producers.buffer import Buffer
from stepmetrics.producers.context import StepContext

CTX = StepContext("exec-1", "pipe", None)


def test_buffer_counts_and_drains_in_order() -> None:
    buffer = Buffer(capacity=12)
    signals: list[str] = []
    buffer.on_data = lambda: signals.append("data")
    buffer.on_urgent = lambda: signals.append("urgent")
    assert buffer.put(CTX, "a", 1, 0)
    assert buffer.put(CTX, "b", 1, 0)
    assert signals == ["data"]  # once per drain cycle
    assert buffer.put(CTX, "c", 1, 0)
    assert signals == ["data", "urgent"]  # a quarter of the capacity waits
    ctxs, events = buffer.drain()
    assert (list(ctxs), list(events)) == ([CTX] * 3, ["a", "b", "c"])
    assert buffer.put(CTX, "d", 1, 0)
    assert signals == ["data", "urgent", "data"]
    stats = buffer.stats()
    assert (stats.recorded, stats.delivered, stats.pending) == (4, 0, 4)
    buffer.release(delivered=3, failed=1)
    stats = buffer.stats()
    assert (stats.delivered, stats.failed, stats.pending) == (3, 1, 0)


def test_full_buffer_drops_after_block_timeout_and_counts() -> None:
    buffer = Buffer(capacity=3)
    assert buffer.put(CTX, "a", 3, 0)
    buffer.drain()  # drained but not delivered: still held
    started = time.monotonic()
    assert not buffer.put(CTX, "b", 1, 0.2)
    assert time.monotonic() - started >= 0.19
    assert buffer.stats().dropped == 1
    assert buffer.stats().pending == 3


def test_full_buffer_admits_once_room_is_released() -> None:
    buffer = Buffer(capacity=2)
    assert buffer.put(CTX, "a", 2, 0)
    releaser = threading.Timer(0.1, lambda: buffer.release(delivered=2))
    releaser.start()
    assert buffer.put(CTX, "b", 2, 5.0)
    releaser.join()
    assert buffer.stats().dropped == 0


def test_item_larger_than_capacity_passes_when_empty() -> None:
    buffer = Buffer(capacity=5)
    assert buffer.put(CTX, "big", 50, 0)
    assert not buffer.put(CTX, "next", 1, 0)
