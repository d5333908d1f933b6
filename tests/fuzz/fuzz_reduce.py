"""Fuzz the write model's reduction (`stepmetrics.processors.writes.reduce`)
against a plain-Python model of the semantics: per envelope the last scalar
value by (ts_us, event index), every list's values concatenated in record
order; per batch one script call per (execution, pipeline, deployment) holding
each envelope exactly once, with every key in the execution's cluster slot.

The Lua side of the same semantics is checked against a model on a real
redis-server by tests/integration/test_writer_model.py (hypothesis).

Run: `python -m tests.fuzz.fuzz_reduce [libFuzzer flags]`.
"""

from __future__ import annotations

import math
import sys
from array import array

import atheris
from redis.crc import key_slot

# Coverage feedback from stepmetrics' own code only: instrumenting every
# loaded module (atheris.instrument_all) costs ~30 s of start-up.
with atheris.instrument_imports(include=["stepmetrics"]):
    from stepmetrics.processors.writes.limits import WriteLimits
    from stepmetrics.processors.writes.reduce import plan_batch, reduce_envelope
    from stepmetrics.producers.events import KIND_LIST, KIND_SCALAR, Envelope, WireEvent
    from stepmetrics.store.keys import RedisKeys, hash_tag

KEYS = RedisKeys("fz")
IDS = ["e", "e}:l:x", "{e}", "%7D", "é", "e:1"]
NAMES = ["a", "b}", ":l:", "%", "z}:meta"]
VALUES = [0.0, -1.5, 1e308, math.nan, math.inf, -math.inf]


def _events(fdp: atheris.FuzzedDataProvider) -> list[WireEvent]:
    events: list[WireEvent] = []
    for _ in range(fdp.ConsumeIntInRange(1, 8)):
        name = fdp.PickValueInList(NAMES)
        ts_us = fdp.ConsumeIntInRange(0, 5)
        if fdp.ConsumeBool():
            events.append((KIND_SCALAR, name, ts_us, fdp.PickValueInList(VALUES)))
        else:
            count = fdp.ConsumeIntInRange(1, 4)
            events.append((KIND_LIST, name, ts_us, [fdp.PickValueInList(VALUES)] * count))
    return events


def _envelopes(fdp: atheris.FuzzedDataProvider) -> list[Envelope]:
    return [
        Envelope(
            f"p{fdp.ConsumeIntInRange(0, 2)}",
            fdp.ConsumeIntInRange(0, 40),
            fdp.PickValueInList(IDS),
            fdp.PickValueInList(["train", "eval"]),
            fdp.PickValueInList([None, "d"]),
            _events(fdp),
        )
        for _ in range(fdp.ConsumeIntInRange(1, 6))
    ]


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or a == b


def _check_reduction(envelope: Envelope) -> None:
    got = reduce_envelope(envelope)
    last: dict[str, tuple[int, int, float]] = {}
    lists: dict[str, list[float]] = {}
    for idx, (kind, name, ts_us, payload) in enumerate(envelope.events):
        if kind == KIND_SCALAR:
            if name not in last or (ts_us, idx) >= last[name][:2]:
                last[name] = (ts_us, idx, payload)
        else:
            lists.setdefault(name, []).extend(payload)
    if set(got.scalars) != set(last):
        raise AssertionError("scalar names differ from the model")
    for name, (ts_us, idx, value) in last.items():
        kept = got.scalars[name]
        if kept[:2] != (ts_us, idx) or not _same(kept[2], value):
            raise AssertionError(f"scalar {name!r}: kept {kept}, model {(ts_us, idx, value)}")
    for name, values in lists.items():
        stored = got.lists[name][1]
        if len(stored) != len(values):
            raise AssertionError(f"list {name!r} has the wrong length")
        if not all(_same(a, b) for a, b in zip(stored, array("d", values), strict=True)):
            raise AssertionError(f"list {name!r} differs from the model")


def test_one_input(data: bytes) -> None:
    envelopes = _envelopes(atheris.FuzzedDataProvider(data))
    for envelope in envelopes:
        _check_reduction(envelope)
    plans = plan_batch(KEYS, envelopes, WriteLimits())
    planned = [id(e) for plan in plans for e in plan.envelopes]
    if sorted(planned) != sorted(id(e) for e in envelopes):
        raise AssertionError("an envelope is missing from the plans or in two of them")
    for plan in plans:
        slot = key_slot(hash_tag(plan.execution_id).encode())
        if any(key_slot(key.encode()) != slot for key in plan.keys):
            raise AssertionError(f"a key of {plan.execution_id!r} is outside its slot")
        origins = {(e.execution_id, e.pipeline_name, e.deployment_name) for e in plan.envelopes}
        if len(origins) != 1:
            raise AssertionError("one script call mixes executions or origins")
        if plan.n_events != sum(len(e.events) for e in plan.envelopes):
            raise AssertionError("the plan's event count is wrong")


def main() -> None:
    atheris.Setup([*sys.argv, "-seed=1"], test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
