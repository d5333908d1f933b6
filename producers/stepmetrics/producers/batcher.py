"""Coalesce buffered events into envelopes of the event contract.

Events are grouped per execution (record order kept), then cut into
envelopes of at most `max_events` events and `max_bytes` encoded bytes. The
sender thread shares the GIL with the step, so the common path does almost no
per-event Python work: a group is encoded as a whole (orjson, in C) and only
re-cut when it is too large, into parts sized from the measured overshoot. A
list too large for one message (a full 50,000-value list is about 1 MB of
JSON) is cut into chunks that travel in consecutive envelopes, each chunk an
event with the list's name and record time.

Each execution has its own `seq`, strictly increasing (by one per envelope,
with a jump after an eviction), so the processor's exactly-once state is a
high-water mark and a small window per (execution, producer). The counters
are an LRU of `max_executions`; a counter made again after eviction starts at
the number of envelopes this producer has built so far, which no seq of that
execution has reached (a counter that starts at that total and grows by one
per envelope of its execution never overtakes the total).

An event that cannot be encoded at all (validation makes this a bug, not an
input) fails alone: the batcher bisects its group down to it and counts its
values in `failed_values`.
"""

from __future__ import annotations

import logging
import math
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import orjson

from stepmetrics.producers.context import StepContext
from stepmetrics.producers.errors import ProducerError
from stepmetrics.producers.events import KIND_LIST, Envelope, WireEvent, encode_envelope
from stepmetrics.producers.excerpt import excerpt

log = logging.getLogger(__name__)

# Re-cut parts aim below the limit, as events differ in size.
_FILL: Final = 0.85
# Executions whose seq counter is kept (LRU); see the module docstring.
MAX_SEQ_COUNTERS: Final = 100_000


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One encoded envelope, kept as bytes so a retry re-sends it unchanged.

    `number` orders all envelopes of the producer (the outbox's order); `seq`
    is the envelope's seq, which orders only those of its execution.
    """

    number: int
    key: bytes
    data: bytes
    values: int
    seq: int


class Batcher:
    """Turns drained events into `Outgoing` envelopes, seq increasing per execution."""

    def __init__(
        self,
        producer_id: str,
        max_bytes: int,
        max_events: int,
        max_executions: int = MAX_SEQ_COUNTERS,
    ) -> None:
        self.producer_id = producer_id
        self.max_bytes = max_bytes
        self.max_events = max_events
        self.built = 0  # envelopes built so far, all executions
        self.failed_values = 0  # values of events that could not be encoded, ever
        self._next_seqs: OrderedDict[str, int] = OrderedDict()  # execution id -> next seq
        self._max_executions = max_executions

    def next_seq(self, execution_id: str) -> int:
        """The seq the next envelope of `execution_id` gets."""
        return self._next_seqs.get(execution_id, self.built)

    def _take_seq(self, execution_id: str) -> int:
        seq = self.next_seq(execution_id)
        self._next_seqs[execution_id] = seq + 1
        self._next_seqs.move_to_end(execution_id)
        if len(self._next_seqs) > self._max_executions:
            self._next_seqs.popitem(last=False)
        self.built += 1
        return seq

    def build(self, ctxs: Sequence[StepContext], events: Sequence[WireEvent]) -> list[Outgoing]:
        """Group `events` (of the parallel `ctxs`) per execution and encode them."""
        out: list[Outgoing] = []
        for ctx, group in _group(ctxs, events):
            for start in range(0, len(group), self.max_events):
                self._fit(ctx, group[start : start + self.max_events], out)
        return out

    def _fit(self, ctx: StepContext, events: list[WireEvent], out: list[Outgoing]) -> None:
        envelope = Envelope(
            self.producer_id,
            self.next_seq(ctx.execution_id),
            ctx.execution_id,
            ctx.pipeline_name,
            ctx.deployment_name,
            events,
        )
        try:
            data = encode_envelope(envelope)
        except orjson.JSONEncodeError as exc:
            self._unencodable(ctx, events, exc, out)
            return
        if len(data) <= self.max_bytes:
            number, seq = self.built, self._take_seq(ctx.execution_id)
            out.append(Outgoing(number, envelope.key, data, _count(events), seq))
            return
        parts = math.ceil(len(data) / (self.max_bytes * _FILL))
        if len(events) > 1:
            size = math.ceil(len(events) / min(parts, len(events)))
            for start in range(0, len(events), size):
                self._fit(ctx, events[start : start + size], out)
            return
        kind, name, ts_us, payload = events[0]
        if kind != KIND_LIST or len(payload) < 2:  # settings make this impossible
            raise ProducerError(f"event {name!r} alone exceeds {self.max_bytes} bytes")
        size = math.ceil(len(payload) / parts)
        for start in range(0, len(payload), size):
            self._fit(ctx, [(kind, name, ts_us, payload[start : start + size])], out)

    def _unencodable(
        self,
        ctx: StepContext,
        events: list[WireEvent],
        exc: orjson.JSONEncodeError,
        out: list[Outgoing],
    ) -> None:
        if len(events) > 1:  # bisect: only the events that cannot be encoded fail
            half = len(events) // 2
            self._fit(ctx, events[:half], out)
            self._fit(ctx, events[half:], out)
            return
        self.failed_values += _count(events)
        log.error(
            "stepmetrics: metric %s of execution %s cannot be encoded (%s); "
            "its %d value(s) are dropped",
            excerpt(events[0][1]),
            excerpt(ctx.execution_id),
            exc,
            _count(events),
        )


def _group(
    ctxs: Sequence[StepContext], events: Sequence[WireEvent]
) -> list[tuple[StepContext, list[WireEvent]]]:
    if not events:
        return []
    first = ctxs[0]
    # The usual case, one execution: `count` compares by identity first, in C.
    if ctxs.count(first) == len(ctxs):
        return [(first, list(events))]
    # Equal contexts may be different objects: group by value, but hash each
    # context object once (by identity) rather than once per event.
    merged: dict[StepContext, list[WireEvent]] = {}
    by_id: dict[int, list[WireEvent]] = {}
    for ctx, event in zip(ctxs, events, strict=True):
        group = by_id.get(id(ctx))
        if group is None:
            group = by_id[id(ctx)] = merged.setdefault(ctx, [])
        group.append(event)
    return list(merged.items())


def _count(events: list[WireEvent]) -> int:
    """Metric values in `events`: one per scalar, one per list element."""
    count = len(events)
    for event in events:
        if event[0] == KIND_LIST:
            count += len(event[3]) - 1
    return count
