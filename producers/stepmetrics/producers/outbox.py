"""The sender's outbox: envelopes not yet settled, and the flushes waiting on them.

Envelopes stay here, oldest first, from the moment they are built until the
broker acknowledges them or they are given up, so a retry re-sends the SAME
bytes (same `producer_id:seq`) and the processor recognizes the duplicate.

The processor remembers which seqs of an execution it applied only within
`SEQ_WINDOW` below the highest one, so `sendable` never lets an envelope out
while one of the same execution at least `SEQ_WINDOW` seqs older is unsettled:
a retry then always lands inside the window.

A flush is a watermark: when it is armed (right after the sender drained the
buffer, so everything recorded before the flush is in the outbox) it takes the
next envelope number, and it completes once no envelope below that number is
left. Envelopes added after it do not hold it up.

Only the sender's loop thread touches an `Outbox`; a `FlushRequest` is how a
recording thread waits for it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator

from stepmetrics.producers.batcher import Outgoing
from stepmetrics.producers.events import SEQ_WINDOW

# How often a waiting flush checks that the sender thread is still alive.
_POLL_S = 0.2


class FlushRequest:
    """One `flush()` call: the caller waits, the sender's loop completes it."""

    __slots__ = ("done", "ok", "target")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.ok = False
        self.target = -1  # the watermark; -1 until armed

    def wait(self, timeout: float | None, alive: Callable[[], bool]) -> bool:
        """True once completed; False on timeout, abandonment or when `alive()` is False."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.done.wait(_POLL_S if deadline is None else min(_POLL_S, _left(deadline))):
            if not alive() or (deadline is not None and _left(deadline) <= 0):
                return False
        return self.ok


class Outbox:
    """Unsettled envelopes in increasing `number`, and the flush watermarks over them."""

    def __init__(self) -> None:
        self._envelopes: list[Outgoing] = []
        self._next_number = 0  # one past the newest envelope ever added
        self._unarmed: list[FlushRequest] = []
        self._armed: list[FlushRequest] = []

    def __len__(self) -> int:
        return len(self._envelopes)

    def __iter__(self) -> Iterator[Outgoing]:
        """The unsettled envelopes, oldest first."""
        return iter(self._envelopes)

    def add(self, envelopes: Iterable[Outgoing]) -> None:
        """Append newly built envelopes; their `number` must keep increasing."""
        self._envelopes.extend(envelopes)
        if self._envelopes:
            self._next_number = max(self._next_number, self._envelopes[-1].number + 1)

    def sendable(self) -> list[Outgoing]:
        """The unsettled envelopes, oldest first, but none `SEQ_WINDOW` seqs past
        the oldest unsettled one of its execution (those wait for a later round)."""
        oldest: dict[bytes, int] = {}
        out = []
        for envelope in self._envelopes:
            first = oldest.setdefault(envelope.key, envelope.seq)
            if envelope.seq - first < SEQ_WINDOW:
                out.append(envelope)
        return out

    def settle(self, numbers: Collection[int]) -> None:
        """Remove the envelopes acknowledged or given up; the others stay as they are."""
        self._envelopes = [out for out in self._envelopes if out.number not in numbers]

    def give_up(self) -> int:
        """Drop every unsettled envelope; returns the metric values they held."""
        lost = sum(out.values for out in self._envelopes)
        self._envelopes.clear()
        return lost

    def add_flush(self, request: FlushRequest) -> None:
        """Register a flush; it waits unarmed until `arm_flushes()`."""
        self._unarmed.append(request)

    def arm_flushes(self) -> None:
        """Set the watermark of the flushes registered so far to what was added so far."""
        for request in self._unarmed:
            request.target = self._next_number
        self._armed.extend(self._unarmed)
        self._unarmed.clear()

    def complete_flushes(self) -> None:
        """Complete (successfully) the armed flushes no unsettled envelope holds up."""
        low = self._envelopes[0].number if self._envelopes else self._next_number
        for request in [r for r in self._armed if r.target <= low]:
            request.ok = True
            request.done.set()
        self._armed = [r for r in self._armed if r.target > low]

    def abandon_flushes(self) -> None:
        """Release every waiting flush unsuccessfully (the sender is stopping)."""
        for request in self._armed + self._unarmed:
            request.done.set()  # ok stays False
        self._armed.clear()
        self._unarmed.clear()


def _left(deadline: float) -> float:
    return max(0.0, deadline - time.monotonic())
