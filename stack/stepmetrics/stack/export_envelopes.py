"""Turn one execution's stored facts into envelopes that recreate it (pure, no I/O).

Applying the envelopes in seq order to a store that does not hold the
execution yields its stored state: every scalar with its value and record time,
every list's values in order with its created_at, the pipeline, the deployment,
and the execution's created_at and updated_at. The latter two are the minimum
and maximum record time of every event ever applied, which the kept facts may
not show (an overwritten first scalar, a list's later appends); they travel
on events that change nothing else:

- created_at: a copy of a scalar recorded at created_at just before the kept
  one (which wins: it is later, or as late and after it), or a continuation
  of a list (any event of a list after its first one only appends);
- updated_at: a continuation of a list.

An execution whose times no event can carry (no scalar and only one-value
lists) is counted in `times_lost`. Envelopes respect the decoder's and the
producer's bounds (`EnvelopeLimits`): bytes per message, events per envelope,
values per list event. Identities are deterministic (`export_producer_id`, seq
1, 2, ...), so importing the same file twice changes nothing.
"""

from __future__ import annotations

import hashlib
import math
from bisect import bisect_right
from dataclasses import dataclass
from itertools import accumulate
from typing import Any, Final

import orjson

from stepmetrics.producers.events import (
    KIND_LIST,
    KIND_SCALAR,
    Envelope,
    WireEvent,
    WireNumber,
    encode_envelope,
    to_wire,
)
from stepmetrics.stack.export_limits import EnvelopeLimits
from stepmetrics.store.export import ExecutionHead, StoredList, StoredScalar

PRODUCER_PREFIX: Final = "export-"
# The longest JSON number orjson writes for a float ("-1.7976931348623157e+308")
# plus its comma: room kept for at least one value when a list event is opened.
_MAX_VALUE_BYTES: Final = 25
_SEQ_BOUND: Final = 10**15 - 1  # the largest seq the worker applies: the widest header


def export_producer_id(head: ExecutionHead) -> str:
    """`export-<hash>` of the execution id and its data version: the same for
    every export of the execution until it changes."""
    digest = hashlib.blake2b(f"{head.execution_id}\n{head.version}".encode(), digest_size=16)
    return PRODUCER_PREFIX + digest.hexdigest()


class ExecutionEnvelopes:
    """Packs one execution's facts, pushed in order (scalars, then each list's
    outline and values), into envelopes; `take()` hands out the full ones."""

    def __init__(self, head: ExecutionHead, limits: EnvelopeLimits) -> None:
        self.head = head
        self.limits = limits
        self.producer_id = export_producer_id(head)
        self.events = self.values = 0
        self._seq = 0
        self._ready: list[Envelope] = []
        self._events: list[WireEvent] = []
        self._header = len(encode_envelope(self._envelope(_SEQ_BOUND, [])))
        self._size = self._header
        # times only an extra event can carry; a stored fact at that time carries it itself
        self._pending = {head.created_us, head.updated_us}
        self._list: _ListState | None = None

    @property
    def times_lost(self) -> bool:
        """Whether created_at or updated_at found no event to carry it."""
        return bool(self._pending)

    def scalar(self, scalar: StoredScalar) -> None:
        """Add a scalar; before the first, a copy at created_at if needed."""
        value = to_wire(scalar.value)
        created = self.head.created_us
        if created in self._pending and created < scalar.ts_us:
            self._add((KIND_SCALAR, scalar.name, created, value))
            self._pending.discard(created)
            self.values -= 1  # a carrier, not a value of the execution
        self._add((KIND_SCALAR, scalar.name, scalar.ts_us, value))
        self._pending.discard(scalar.ts_us)

    def begin_list(self, outline: StoredList) -> None:
        """Start a list; its values follow through `list_values`."""
        owed = len(self._pending - {outline.created_us})
        # Split the tail off so that the pending times get continuation events.
        extra = min(owed, outline.length - 1)
        cuts = [outline.length - j for j in range(extra, 0, -1)]
        self._list = _ListState(outline, cuts)

    def list_values(self, values: list[float]) -> None:
        """Append the next values of the current list (in order)."""
        state = self._list
        if state is None:
            raise RuntimeError("list_values() before begin_list()")  # a caller bug
        if not values:
            return
        # A finite sum means no NaN or infinity (either would make it one): no
        # conversion, no copy (the profile's largest cost for typical lists).
        wire: list[Any] = values if math.isfinite(sum(values)) else [to_wire(v) for v in values]
        # Each value's JSON bytes plus its comma: values hold no commas.
        sizes = list(map((1).__add__, map(len, orjson.dumps(wire)[1:-1].split(b","))))
        pos = 0
        while pos < len(wire):
            target = self._open_list_event(state) if state.open is None else state.open
            n = self._fit(state, sizes, pos, len(wire))
            if n == 0:
                self._flush()
                continue
            target.extend(wire[pos : pos + n])
            self._size += sum(sizes[pos : pos + n])
            self.values += n
            pos += n
            state.index += n
            state.in_event += n
            if state.index in state.cuts or state.in_event == self.limits.max_list_values:
                state.open = None

    def take(self) -> list[Envelope]:
        """The envelopes completed so far (each once)."""
        ready, self._ready = self._ready, []
        return ready

    def finish(self) -> list[Envelope]:
        """Close the last envelope; the remaining envelopes."""
        if self._events:
            self._flush()
        return self.take()

    # -- packing -----------------------------------------------------------
    def _envelope(self, seq: int, events: list[WireEvent]) -> Envelope:
        head = self.head
        return Envelope(
            self.producer_id, seq, head.execution_id, head.pipeline_name,
            head.deployment_name, events,
        )  # fmt: skip

    def _add(self, event: WireEvent) -> None:
        size = len(orjson.dumps(event)) + 1
        self._make_room(size)
        self._events.append(event)
        self._size += size
        self.events += 1
        self.values += 1

    def _make_room(self, size: int) -> None:
        """Close the envelope unless `size` more bytes and one more event fit."""
        full = len(self._events) >= self.limits.max_events
        if self._events and (full or self._size + size > self.limits.max_bytes):
            self._flush()

    def _open_list_event(self, state: _ListState) -> list[WireNumber]:
        outline = state.outline
        if state.index == 0:
            ts = outline.created_us
        elif self.head.created_us in self._pending:
            ts = self.head.created_us
        else:
            ts = self.head.updated_us
        self._pending.discard(ts)
        values: list[WireNumber] = []
        event: WireEvent = (KIND_LIST, outline.name, ts, values)
        size = len(orjson.dumps(event)) + 1
        self._make_room(size + _MAX_VALUE_BYTES)
        self._events.append(event)
        self._size += size
        self.events += 1
        state.open, state.in_event = values, 0
        return values

    def _fit(self, state: _ListState, sizes: list[int], pos: int, end: int) -> int:
        """How many of the values from `pos` go into the open event."""
        later_cuts = [c for c in state.cuts if c > state.index]
        end = min(end, pos + self.limits.max_list_values - state.in_event)
        if later_cuts:
            end = min(end, pos + later_cuts[0] - state.index)
        room = self.limits.max_bytes - self._size
        return bisect_right(list(accumulate(sizes[pos:end])), room)

    def _flush(self) -> None:
        self._seq += 1
        self._ready.append(self._envelope(self._seq, self._events))
        self._events = []
        self._size = self._header
        if self._list is not None:
            self._list.open = None


@dataclass(slots=True)
class _ListState:
    outline: StoredList
    cuts: list[int]  # value indexes that start a new event
    index: int = 0  # values of the list packed so far
    in_event: int = 0  # values in the open event
    open: list[WireNumber] | None = None  # the open event's values
