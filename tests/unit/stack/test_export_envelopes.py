"""Stored facts -> envelopes -> a model of the worker's apply: the same state back.

The model applies decoded envelopes in seq order as docs/worker.md says the
worker does: a scalar keeps the value of the latest (ts_us, seq, idx), a list
appends in order and keeps the record time of its first event as created_at,
the execution spans the minimum to the maximum record time of its events.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stepmetrics.producers.events import Envelope, decode_envelope, encode_envelope
from stepmetrics.stack.errors import StackSettingsError
from stepmetrics.stack.export_envelopes import ExecutionEnvelopes
from stepmetrics.stack.export_limits import EnvelopeLimits
from stepmetrics.store.export import ExecutionHead, StoredList, StoredScalar

T = 1_764_150_000_000_000
NAMES = st.text(st.characters(codec="utf-8", exclude_categories=("Cc", "Cs")), min_size=1,
                max_size=12)  # fmt: skip
VALUES = st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from([0.0, 1e308, -5e-324])


@dataclass
class Model:
    scalars: dict[str, tuple[tuple[int, int, int], float]] = field(default_factory=dict)
    lists: dict[str, tuple[int, list[float]]] = field(default_factory=dict)
    span: tuple[int, int] | None = None
    origin: set[tuple[str, str | None]] = field(default_factory=set)

    def apply(self, env: Envelope) -> None:
        self.origin.add((env.pipeline_name, env.deployment_name))
        for idx, (kind, name, ts, payload) in enumerate(env.events):
            lo, hi = self.span or (ts, ts)
            self.span = (min(lo, ts), max(hi, ts))
            if kind == "s":
                order = (ts, env.seq, idx)
                if name not in self.scalars or order > self.scalars[name][0]:
                    self.scalars[name] = (order, payload)
            elif name in self.lists:
                self.lists[name][1].extend(payload)
            else:
                self.lists[name] = (ts, list(payload))


@st.composite
def executions(draw: st.DrawFn) -> tuple[ExecutionHead, list[StoredScalar], list[StoredList]]:
    created = T + draw(st.integers(0, 5))
    updated = created + draw(st.integers(0, 5))
    times = st.integers(created, updated)
    scalar_names = draw(st.lists(NAMES, max_size=5, unique=True))
    scalars = [StoredScalar(n, draw(VALUES), draw(times)) for n in scalar_names]
    list_names = draw(st.lists(NAMES, max_size=4, unique=True))
    sizes = st.sampled_from([1, 2, 3, 7, 40])
    lists = [StoredList(n, draw(times), draw(sizes)) for n in list_names]
    dep = draw(st.none() | NAMES)
    head = ExecutionHead("e{1}:é", "pipe:{x}", dep, created, updated, str(draw(st.integers(0, 9))))
    return head, scalars, lists


def pack(
    head: ExecutionHead,
    scalars: list[StoredScalar],
    lists: list[tuple[StoredList, list[float]]],
    limits: EnvelopeLimits,
    slice_size: int = 4,
) -> tuple[list[Envelope], ExecutionEnvelopes]:
    packer = ExecutionEnvelopes(head, limits)
    out: list[Envelope] = []
    for scalar in scalars:
        packer.scalar(scalar)
        out += packer.take()
    for outline, values in lists:
        packer.begin_list(outline)
        for i in range(0, len(values), slice_size):  # the store's read slices
            packer.list_values(values[i : i + slice_size])
            out += packer.take()
    return out + packer.finish(), packer


def same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


@settings(max_examples=300, deadline=None)
@given(
    data=executions(),
    limits=st.builds(
        EnvelopeLimits,
        max_bytes=st.sampled_from([8192, 9000, 900_000]),
        max_events=st.integers(1, 4),
        max_list_values=st.integers(1, 6),
    ),
    fill=st.data(),
)
def test_applying_the_envelopes_recreates_the_stored_state(
    data: tuple[ExecutionHead, list[StoredScalar], list[StoredList]],
    limits: EnvelopeLimits,
    fill: st.DataObject,
) -> None:
    head, scalars, outlines = data
    lists = [(o, fill.draw(st.lists(VALUES, min_size=o.length, max_size=o.length)))
             for o in outlines]  # fmt: skip
    envelopes, packer = pack(head, scalars, lists, limits)
    model = Model()
    for seq, env in enumerate(envelopes, 1):
        line = encode_envelope(env)
        assert len(line) <= limits.max_bytes
        decoded = decode_envelope(line)
        assert (decoded.seq, decoded.producer_id) == (seq, packer.producer_id)
        assert len(decoded.events) <= limits.max_events
        assert all(len(e[3]) <= limits.max_list_values for e in decoded.events if e[0] == "l")
        model.apply(decoded)
    assert {n: v for n, (_, v) in model.scalars.items()}.keys() == {s.name for s in scalars}
    for s in scalars:
        order, value = model.scalars[s.name]
        assert order[0] == s.ts_us
        assert same(value, s.value)
    assert set(model.lists) == {o.name for o, _ in lists}
    for outline, values in lists:
        created, got = model.lists[outline.name]
        assert created == outline.created_us
        assert len(got) == len(values)
        assert all(same(a, b) for a, b in zip(got, values, strict=True))
    if not envelopes:
        assert not scalars
        assert not lists
        return
    assert model.origin == {(head.pipeline_name, head.deployment_name)}
    carried = model.span == (head.created_us, head.updated_us)
    assert carried != packer.times_lost
    # Times no stored fact shows need carriers: a scalar's copy (created_at
    # only), a list's continuation events (one per value after its first).
    shown = {s.ts_us for s in scalars} | {o.created_us for o in outlines}
    needed = {head.created_us, head.updated_us} - shown - ({head.created_us} if scalars else set())
    continuations = sum(o.length - 1 for o in outlines)
    assert carried == (continuations >= len(needed))


def test_a_big_list_is_split_under_the_byte_bound() -> None:
    head = ExecutionHead("exec-big", "p", None, T, T + 9, "1")
    values = [math.sqrt(i + 0.5) * 1e-7 for i in range(50_000)]  # ~23 JSON bytes each: ~1.1 MB
    envelopes, _ = pack(head, [], [(StoredList("loss", T, len(values)), values)],
                        EnvelopeLimits(), slice_size=8192)  # fmt: skip
    sizes = [len(encode_envelope(e)) for e in envelopes]
    assert len(envelopes) == 2
    assert max(sizes) <= EnvelopeLimits().max_bytes
    assert sizes[0] > 0.99 * EnvelopeLimits().max_bytes  # packed full, not in small pieces
    got = [v for e in envelopes for ev in decode_envelope(encode_envelope(e)).events for v in ev[3]]
    assert got == values
    # The first event is at the list's created_at; the continuations carry updated_at.
    stamps = [ev[2] for e in envelopes for ev in e.events]
    assert stamps[0] == T
    assert set(stamps[1:]) == {T + 9}


def test_identities_are_deterministic_and_follow_the_version() -> None:
    head = ExecutionHead("e", "p", None, T, T, "7")
    scalar = StoredScalar("a", 1.0, T)
    first, _ = pack(head, [scalar], [], EnvelopeLimits())
    again, _ = pack(head, [scalar], [], EnvelopeLimits())
    changed, _ = pack(ExecutionHead("e", "p", None, T, T, "8"), [scalar], [], EnvelopeLimits())
    assert [encode_envelope(e) for e in first] == [encode_envelope(e) for e in again]
    assert first[0].producer_id.startswith("export-")
    assert changed[0].producer_id != first[0].producer_id


def test_limits_refuse_what_the_decoder_would_not_take() -> None:
    with pytest.raises(StackSettingsError, match=r"1000 bytes; allowed: 8192\.\.900000"):
        EnvelopeLimits(max_bytes=1000)
    with pytest.raises(StackSettingsError, match="50001 events per envelope"):
        EnvelopeLimits(max_events=50_001)
