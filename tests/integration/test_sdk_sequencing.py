"""Seqs per execution through the real broker, and no stall when a round holds
more envelopes of one execution than the processor's seq window."""

from __future__ import annotations

from stepmetrics.producers import Recorder, step_context
from stepmetrics.producers.events import SEQ_WINDOW
from stepmetrics.sdk import CraftAiSdk
from stepmetrics.stack.services import ManagedProcess
from tests.support.sdk import read_envelopes, settings_for, unique


async def test_each_execution_counts_its_own_seqs_and_every_envelope_arrives(
    broker: ManagedProcess, topic: str
) -> None:
    # One event per envelope and a long linger: one round builds far more
    # envelopes of "a" than the window lets out at once.
    settings = settings_for(broker.address, topic, batch_max_events=1, linger_ms=500)
    recorder = Recorder(settings)
    sdk = CraftAiSdk(recorder=recorder)
    n = 3 * SEQ_WINDOW + 5
    for i in range(n):
        with step_context("a", "p"):
            assert sdk.record_metric_value("m", float(i))
        if i % 10 == 0:
            with step_context("b", "p"):
                assert sdk.record_metric_value("m", float(i))
    assert recorder.flush(30)
    assert recorder.close(30)
    envelopes = unique(
        await read_envelopes(broker.address, topic, lambda envs: len(envs) >= n + n // 10 + 1)
    )
    seqs = {eid: [e.seq for e in envelopes if e.execution_id == eid] for eid in ("a", "b")}
    assert len(seqs["a"]) == n
    assert seqs["a"] == list(range(seqs["a"][0], seqs["a"][0] + n))  # one apart
    assert len(seqs["b"]) == n // 10 + 1
    assert seqs["b"] == list(range(seqs["b"][0], seqs["b"][0] + len(seqs["b"])))
    assert {e.producer_id for e in envelopes} == {envelopes[0].producer_id}
