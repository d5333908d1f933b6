"""Any state the worker writes -> export -> the worker's write model -> the same state.

Random envelopes from a few producers (scalars overwritten with timestamp ties
and late older values, lists appended across envelopes, now and then past the
50,000 cap) go through the real `MetricsWriter` into prefix A of a real
redis-server. The exporter reads A through the store in small slices and packs
envelopes under small bounds (so that splitting happens everywhere); decoding
each line and applying them through `MetricsWriter` into prefix B must give
B exactly A's keys and values, except what the export documents it does not
carry: the data version, the exactly-once state, the drop counters and the
seq/idx part of a scalar's order (its timestamp is kept).
"""

from __future__ import annotations

import itertools
from typing import Any

import redis.asyncio as aioredis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stepmetrics.processors.writes.writer import MetricsWriter
from stepmetrics.producers.events import Envelope, WireEvent, decode_envelope, encode_envelope
from stepmetrics.stack.export_limits import EnvelopeLimits
from stepmetrics.stack.exporter import Selection, export
from stepmetrics.store.keys import RedisKeys, hash_tag
from tests.support.metrics_state import snapshot
from tests.support.redis_targets import BOTH_REDIS_MODES

# The store's reads (HSCAN, GETRANGE, pipelined STRLEN) on one server and on a cluster.
pytestmark = BOTH_REDIS_MODES

T = 1_764_150_000_000_000
NAMES = st.sampled_from(["a", "b:{x}", "ü 🚀"])
LIST_SIZES = st.sampled_from([1, 2, 3, 40, 26_000])
_examples = itertools.count()


@st.composite
def events(draw: st.DrawFn) -> list[WireEvent]:
    out: list[WireEvent] = []
    for _ in range(draw(st.integers(1, 3))):
        ts = T + draw(st.integers(0, 4))  # few timestamps: ties and late older events
        value = draw(st.sampled_from([0.5, -1.0, "NaN", "Infinity", "-Infinity", 1e300]))
        if draw(st.booleans()):
            out.append(("s", draw(NAMES), ts, value))
        else:
            out.append(("l", draw(NAMES), ts, [value] * draw(LIST_SIZES)))
    return out


@st.composite
def deliveries(draw: st.DrawFn) -> list[Envelope]:
    """Envelopes of two executions from two producers, interleaved, seqs in order."""
    streams = [
        [Envelope(pid, seq, eid, "pipe:{p}", "dep", draw(events()))
         for seq in range(1, draw(st.integers(0, 4)) + 1)]
        for pid in ("p1", "p2") for eid in ("e-{1}", "e:2")
    ]  # fmt: skip
    order = draw(st.permutations([n for n, s in enumerate(streams) for _ in s]))
    cursors = [iter(s) for s in streams]
    # As the worker sees them: decoded (non-finite values as floats).
    return [decode_envelope(encode_envelope(next(cursors[n]))) for n in order]


def comparable(state: dict[bytes, Any], prefix: str, lost: set[str]) -> dict[bytes, Any]:
    """A snapshot without what an export does not carry, keys without the prefix;
    without the times of the executions in `lost` (no event could carry them)."""
    out: dict[bytes, Any] = {}
    lost_tags = {f"{{{hash_tag(eid)}}}".encode() for eid in lost}
    for key, value in state.items():
        short = key[len(prefix) :]
        if short.endswith((b":seq", b":ld")):
            continue
        if short.endswith(b":meta"):
            drop = (b"version", b"incarnation", b"dropped") + ((b"created_us", b"updated_us")
                    if any(tag in short for tag in lost_tags) else ())  # fmt: skip
            value = {k: v for k, v in value.items() if not k.startswith(drop)}
        elif short.endswith(b":so"):
            value = {k: v.split(b" ")[0] for k, v in value.items()}
        elif b":idx:" in short:
            value = [(m, None if m.decode() in lost else s) for m, s in value]
        out[short] = value
    return out


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    delivered=deliveries(),
    limits=st.builds(EnvelopeLimits, max_bytes=st.sampled_from([8192, 300_000]),
                     max_events=st.integers(1, 3), max_list_values=st.sampled_from([3000, 50_000])),
)  # fmt: skip
async def test_exported_state_applies_back_to_the_same_state(
    redis_client: aioredis.Redis, redis_keys: RedisKeys, delivered: list[Envelope],
    limits: EnvelopeLimits,
) -> None:  # fmt: skip
    n = next(_examples)
    source, target = RedisKeys(f"{redis_keys.prefix}-{n}a"), RedisKeys(f"{redis_keys.prefix}-{n}b")
    for i in range(0, len(delivered), 3):  # the worker's batches
        await MetricsWriter(redis_client, source).apply(delivered[i : i + 3])
    lines: list[bytes] = []
    report = await export(redis_client, source, Selection(pipeline_name="pipe:{p}"), limits,
                          lines.append)  # fmt: skip
    assert report.executions == len({e.execution_id for e in delivered})
    assert report.envelopes == len(lines)
    lost = set(report.times_lost)
    for eid in lost:  # only an execution without scalars and with one-value lists
        assert not await redis_client.exists(source.scalar_values(eid))
        for name in await redis_client.hkeys(source.list_created(eid)):
            text = name if isinstance(name, str) else name.decode()
            assert await redis_client.strlen(source.list_values(eid, text)) == 8
    imported = [decode_envelope(line.rstrip(b"\n")) for line in lines]
    writer = MetricsWriter(redis_client, target)
    for i in range(0, len(imported), 2):
        await writer.apply(imported[i : i + 2])
    a = comparable(await snapshot(redis_client, source.prefix), source.prefix, lost)
    b = comparable(await snapshot(redis_client, target.prefix), target.prefix, lost)
    assert bool(a) == bool(delivered)  # the snapshot sees the keys (on a cluster too)
    assert b == a
    # Applying the same envelopes again changes nothing.
    before = await snapshot(redis_client, target.prefix)
    counts = await writer.apply(imported)
    assert counts.duplicates_skipped == len(imported)
    assert await snapshot(redis_client, target.prefix) == before
