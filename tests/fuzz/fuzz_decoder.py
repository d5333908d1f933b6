"""Fuzz the envelope decoder: any bytes give an Envelope or an EnvelopeError
with bounded text (raised by the checks themselves, not by the safety net
around them), and what decodes re-encodes to an equal envelope.

Run: `python -m tests.fuzz.fuzz_decoder [libFuzzer flags]`, e.g.
`-max_total_time=300` (what `make fuzz` passes) or `-runs=2000`.
"""

from __future__ import annotations

import json
import math
import sys

import atheris

# Coverage feedback from stepmetrics' own code only: instrumenting every
# loaded module (atheris.instrument_all) costs ~30 s of start-up.
with atheris.instrument_imports(include=["stepmetrics"]):
    from stepmetrics.producers.errors import EnvelopeError
    from stepmetrics.producers.events import (
        Envelope,
        _decode,
        decode_envelope,
        encode_envelope,
        to_wire,
    )
    from stepmetrics.producers.excerpt import MAX_EXCERPT

MAX_MESSAGE = 4 * MAX_EXCERPT + 200


def _wire(envelope: Envelope) -> Envelope:
    events = [
        (k, n, t, [to_wire(x) for x in v] if isinstance(v, list) else to_wire(v))
        for k, n, t, v in envelope.events
    ]
    return Envelope(
        envelope.producer_id,
        envelope.seq,
        envelope.execution_id,
        envelope.pipeline_name,
        envelope.deployment_name,
        events,
    )


def _same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        return math.isnan(b)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def _value(fdp: atheris.FuzzedDataProvider, depth: int) -> object:
    choice = fdp.ConsumeIntInRange(0, 9 if depth < 4 else 5)
    if choice == 0:
        return None
    if choice == 1:
        return fdp.ConsumeBool()
    if choice == 2:
        return fdp.ConsumeIntInRange(-(2**63), 2**63 - 1)
    if choice == 3:
        return fdp.ConsumeRegularFloat()
    if choice == 4:
        return fdp.PickValueInList(["s", "l", "NaN", "Infinity", "-Infinity", "x", ""])
    if choice == 5:
        return fdp.ConsumeUnicodeNoSurrogates(fdp.ConsumeIntInRange(0, 300))
    if choice == 6:
        return {"s": _value(fdp, depth + 1)}
    return [_value(fdp, depth + 1) for _ in range(fdp.ConsumeIntInRange(0, 5))]


def _document(fdp: atheris.FuzzedDataProvider) -> bytes:
    """An envelope-shaped document: each field valid, missing or replaced."""
    valid: dict[str, object] = {
        "v": 1,
        "pid": "p",
        "seq": 3,
        "eid": "e",
        "pipe": "train",
        "dep": None,
        "ev": [["s", "acc", 1, 0.5], ["l", "loss", 2, [1.0, "NaN", -1]]],
    }
    doc: dict[str, object] = {}
    for key, good in valid.items():
        mode = fdp.ConsumeIntInRange(0, 3)
        if mode == 0:
            doc[key] = good
        elif mode == 1:
            doc[key] = _value(fdp, 0)
    events = [_value(fdp, 1) for _ in range(fdp.ConsumeIntInRange(0, 4))]
    if events and fdp.ConsumeBool():
        doc["ev"] = events
    return json.dumps(doc).encode()


def test_one_input(data: bytes) -> None:
    # Most inputs become envelope-shaped JSON, so the fuzzer reaches the
    # field and event checks and not only the JSON parser.
    fdp = atheris.FuzzedDataProvider(data)
    if fdp.ConsumeIntInRange(0, 3):
        data = _document(fdp)
    try:
        # The checks themselves, without decode_envelope's net that turns any
        # other exception into a dead letter: an escape here is a checking bug.
        envelope = _decode(data)
    except EnvelopeError as exc:
        if len(str(exc)) > MAX_MESSAGE:
            raise AssertionError(f"unbounded message of {len(str(exc))} characters") from exc
        return
    again = decode_envelope(encode_envelope(_wire(envelope)))
    fields = ("producer_id", "seq", "execution_id", "pipeline_name", "deployment_name")
    for field in fields:
        if getattr(again, field) != getattr(envelope, field):
            raise AssertionError(f"{field} changed in a round trip")
    if not _same(again.events, envelope.events):
        raise AssertionError("events changed in a round trip")


def main() -> None:
    atheris.Setup([*sys.argv, "-seed=1"], test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
