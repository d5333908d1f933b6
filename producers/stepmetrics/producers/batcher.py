"""Coalesce buffered events into envelopes of the event contract.

Events are grouped per execution (record order kept), then cut into
envelopes bounded by an event count and an encoded size. The size is bounded
by an upper estimate computed BEFORE encoding, so an envelope never has to be
re-split: a long list is cut into chunks that travel in consecutive envelopes
(a full 50,000-value list is about 1 MB of JSON, more than one message).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

from stepmetrics.producers.context import StepContext
from stepmetrics.producers.errors import ProducerError
from stepmetrics.producers.events import (
    KIND_SCALAR,
    MAX_ENVELOPE_BYTES,
    Envelope,
    WireEvent,
    encode_envelope,
)

# Upper bounds of encoded JSON sizes. A float64 is at most 24 characters
# ("-2.2250738585072014e-308"), plus a comma; a non-finite one is 11
# ('"-Infinity",'). A name or id character is at most 4 bytes of UTF-8 (`"` and
# `\` are escaped to 2; control characters are not allowed).
VALUE_BYTES: Final = 25
EVENT_OVERHEAD: Final = 64
HEADER_OVERHEAD: Final = 128
CHAR_BYTES: Final = 4

# A buffered item: (context, kind, name, ts_us, wire value or wire list).
Item = tuple[StepContext, str, str, int, Any]


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One encoded envelope, kept as bytes so a retry re-sends it unchanged."""

    seq: int
    key: bytes
    data: bytes
    values: int


class Batcher:
    """Turns drained items into `Outgoing` envelopes with increasing `seq`."""

    def __init__(self, producer_id: str, max_bytes: int, max_events: int) -> None:
        self.producer_id = producer_id
        self.max_bytes = max_bytes
        self.max_events = max_events
        self.next_seq = 0

    def build(self, items: Iterable[Item]) -> list[Outgoing]:
        """Group `items` per execution and encode them, in record order."""
        # Equal contexts may be different objects: group by value, but hash
        # each context object once (by identity) rather than once per event.
        merged: dict[StepContext, list[WireEvent]] = {}
        by_id: dict[int, list[WireEvent]] = {}
        for item in items:
            events = by_id.get(id(item[0]))
            if events is None:
                events = by_id[id(item[0])] = merged.setdefault(item[0], [])
            events.append(item[1:])
        out: list[Outgoing] = []
        for ctx, events in merged.items():
            out.extend(self._envelopes(ctx, events))
        return out

    def _envelopes(self, ctx: StepContext, events: list[WireEvent]) -> list[Outgoing]:
        ids = len(self.producer_id) + len(ctx.execution_id) + len(ctx.pipeline_name)
        ids += len(ctx.deployment_name or "")
        budget = self.max_bytes - HEADER_OVERHEAD - CHAR_BYTES * ids
        out: list[Outgoing] = []
        batch: list[WireEvent] = []
        size = values = 0
        for event in events:
            kind, name, ts_us, payload = event
            base = EVENT_OVERHEAD + CHAR_BYTES * len(name)
            if kind == KIND_SCALAR:
                if batch and (size + base + VALUE_BYTES > budget or len(batch) >= self.max_events):
                    out.append(self._seal(ctx, batch, values))
                    batch, size, values = [], 0, 0
                batch.append(event)
                size += base + VALUE_BYTES
                values += 1
                continue
            start, count = 0, len(payload)
            while start < count:
                room = (budget - size - base) // VALUE_BYTES
                if batch and (room < 1 or len(batch) >= self.max_events):
                    out.append(self._seal(ctx, batch, values))
                    batch, size, values = [], 0, 0
                    continue
                room = max(room, 1)  # an empty batch always takes something
                chunk = payload if start == 0 and count <= room else payload[start : start + room]
                batch.append((kind, name, ts_us, chunk))
                size += base + VALUE_BYTES * len(chunk)
                values += len(chunk)
                start += len(chunk)
        if batch:
            out.append(self._seal(ctx, batch, values))
        return out

    def _seal(self, ctx: StepContext, events: list[WireEvent], values: int) -> Outgoing:
        envelope = Envelope(
            producer_id=self.producer_id,
            seq=self.next_seq,
            execution_id=ctx.execution_id,
            pipeline_name=ctx.pipeline_name,
            deployment_name=ctx.deployment_name,
            events=events,
        )
        data = encode_envelope(envelope)
        if len(data) > MAX_ENVELOPE_BYTES:  # the size estimate is an upper bound
            raise ProducerError(
                f"envelope of {len(data)} bytes exceeds {MAX_ENVELOPE_BYTES}: the size estimate "
                "is wrong"
            )
        self.next_seq += 1
        return Outgoing(envelope.seq, envelope.key, data, values)
