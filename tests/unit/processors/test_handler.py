"""The worker's batch step, without Faust or Redis."""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import pytest
from aiokafka.errors import (
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    TopicAuthorizationFailedError,
)
from faust.exceptions import ProducerSendError
from prometheus_client import generate_latest

from stepmetrics.processors import handler as handler_module
from stepmetrics.processors.deadletter import DeadLetter, RawMessage
from stepmetrics.processors.errors import RedisUnavailableError
from stepmetrics.processors.handler import (
    MAX_ROUND_TRIP_BYTES,
    BatchHandler,
    WorkerCounters,
    _chunks,
)
from stepmetrics.processors.writes.writer import MetricsWriter, Refusal, WriteResult
from stepmetrics.producers.events import Envelope, decode_envelope, encode_envelope
from stepmetrics.store.stats import DEAD_LETTERS_FAILED, ApplyCounts
from tests.support.prometheus import Samples, labelled, parse_samples, value


def test_batches_split_into_round_trips_by_size() -> None:
    big = MAX_ROUND_TRIP_BYTES // 2 + 1
    messages = [RawMessage("t", 0, i, None, b"x" * big) for i in range(5)]
    chunks = _chunks(messages)
    assert [len(c) for c in chunks] == [1, 1, 1, 1, 1]
    small = [RawMessage("t", 0, i, None, b"x") for i in range(5)]
    assert [len(c) for c in _chunks(small)] == [5]


def test_the_log_line_names_every_counter_once() -> None:
    counters = WorkerCounters(messages=7, dead_lettered=2, retries=1, dead_letters_failed=3)
    counters.applied += ApplyCounts(3, 1, 9, 4, 0)
    counters.applied += ApplyCounts(envelopes_applied=1)
    assert counters.summary() == (
        "messages=7 envelopes_applied=4 duplicates_skipped=1 events_applied=9 "
        "list_values_appended=4 values_dropped_by_cap=0 envelopes_refused=0 "
        "scalar_events_dropped_by_name_cap=0 list_values_dropped_by_name_cap=0 "
        "dead_lettered=2 retries=1 dead_letters_failed=3"
    )


class FakeWriter:
    """Applies envelopes by counting them; `poison` execution ids break it."""

    def __init__(self, poison: str = "", refuse: str = "") -> None:
        self.applied: list[Envelope] = []
        self.dead_lettered = 0
        self.poison = poison
        self.refuse = refuse  # envelopes of this execution id are refused by a bound

    async def write(self, envelopes: Sequence[Envelope]) -> WriteResult:
        if any(e.execution_id == self.poison for e in envelopes):
            raise OverflowError("int too large to convert")  # a bug an input triggers
        refused = tuple(
            Refusal(e, "a bound bit") for e in envelopes if e.execution_id == self.refuse
        )
        applied = [e for e in envelopes if e.execution_id != self.refuse]
        self.applied += applied
        counts = ApplyCounts(envelopes_applied=len(applied), envelopes_refused=len(refused))
        return WriteResult(counts, refused)

    async def count_dead_lettered(self, messages: int) -> None:
        self.dead_lettered += messages


class FakeSink:
    """Keeps letters; raises the queued errors first, one per send."""

    def __init__(self, *errors: BaseException) -> None:
        self.letters: list[DeadLetter] = []
        self.errors = list(errors)

    async def send(self, letter: DeadLetter) -> None:
        if self.errors:
            raise self.errors.pop(0)
        self.letters.append(letter)


def _handler(writer: FakeWriter, sink: FakeSink, counted: dict[str, int]) -> BatchHandler:
    async def count(name: str, amount: int) -> None:
        counted[name] = counted.get(name, 0) + amount

    return BatchHandler(cast(MetricsWriter, writer), sink, 0.01, count)


def _messages(*execution_ids: str) -> list[RawMessage]:
    envelopes = [Envelope("p", i, eid, "pipe", None, [("s", "a", 1, 1.0)]) for i, eid in
                 enumerate(execution_ids)]  # fmt: skip
    return [RawMessage("t", 0, i, e.key, encode_envelope(e)) for i, e in enumerate(envelopes)]


async def test_any_decoder_exception_dead_letters_the_message_and_the_batch_flows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = decode_envelope

    def decode(data: bytes, max_events: int) -> Envelope:
        if b"exec-deep" in data:
            raise RecursionError("maximum recursion depth exceeded")
        return real(data, max_events)

    monkeypatch.setattr(handler_module, "decode_envelope", decode)  # the guard under test
    writer, sink = FakeWriter(), FakeSink()
    await _handler(writer, sink, {}).handle(_messages("exec-a", "exec-deep", "exec-b"))
    assert [e.execution_id for e in writer.applied] == ["exec-a", "exec-b"]
    [letter] = sink.letters
    assert letter.message.offset == 1
    assert letter.reason.startswith("undecodable envelope: RecursionError: ")


async def test_an_envelope_that_breaks_the_writer_is_dead_lettered_not_retried() -> None:
    writer, sink = FakeWriter(poison="exec-x"), FakeSink()
    handler = _handler(writer, sink, {})
    await handler.handle(_messages("exec-a", "exec-x", "exec-b"))
    assert [e.execution_id for e in writer.applied] == ["exec-a", "exec-b"]
    assert [ltr.reason for ltr in sink.letters] == [
        "cannot be applied: OverflowError: 'int too large to convert'"
    ]
    assert (handler.counters.retries, writer.dead_lettered) == (0, 1)


@pytest.mark.parametrize("poison", ["", "exec-x"])  # the batch path, the one-by-one fallback
async def test_a_refused_envelope_is_dead_lettered_once_with_its_reason(poison: str) -> None:
    writer, sink = FakeWriter(poison=poison, refuse="exec-r"), FakeSink()
    handler = _handler(writer, sink, {})
    await handler.handle(_messages("exec-r", "exec-a", "exec-x", "exec-r"))
    refused = [(ltr.message.offset, ltr.reason) for ltr in sink.letters if ltr.message.offset != 2]
    assert refused == [(0, "refused: a bound bit"), (3, "refused: a bound bit")]
    assert len(sink.letters) == (3 if poison else 2)
    assert [e.execution_id for e in writer.applied] == (
        ["exec-a"] if poison else ["exec-a", "exec-x"]
    )
    assert handler.counters.applied.envelopes_refused == 2
    assert writer.dead_lettered == len(sink.letters)


@pytest.mark.parametrize(
    "error", [MessageSizeTooLargeError("too large"), TopicAuthorizationFailedError()]
)
async def test_a_dead_letter_refused_for_good_is_counted_and_skipped(error: Exception) -> None:
    writer, counted = FakeWriter(), dict[str, int]()
    sink = FakeSink(_wrapped(error))  # faust wraps aiokafka's error
    handler = _handler(writer, sink, counted)
    await handler.handle([RawMessage("t", 0, 0, b"k", b"junk")])
    assert sink.letters == []
    assert counted == {DEAD_LETTERS_FAILED: 1}
    assert (handler.counters.dead_letters_failed, handler.counters.retries) == (1, 0)
    assert writer.dead_lettered == 0


async def test_a_transient_dead_letter_failure_is_retried() -> None:
    writer, counted = FakeWriter(), dict[str, int]()
    sink = FakeSink(_wrapped(KafkaTimeoutError()), KafkaTimeoutError())
    handler = _handler(writer, sink, counted)
    await handler.handle([RawMessage("t", 0, 0, b"k", b"junk")])
    assert len(sink.letters) == 1
    assert (handler.counters.retries, writer.dead_lettered, counted) == (2, 1, {})


def _wrapped(error: Exception) -> Exception:
    try:
        raise ProducerSendError(f"Error while sending: {error!r}") from error
    except ProducerSendError as exc:
        return exc


class FlakyWriter(FakeWriter):
    """Fails its first `failures` writes as Redis being away."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures

    async def write(self, envelopes: Sequence[Envelope]) -> WriteResult:
        if self.failures:
            self.failures -= 1
            raise RedisUnavailableError("Redis unavailable: connection refused")
        return await super().write(envelopes)


def _telemetry_samples(handler: BatchHandler) -> Samples:
    return parse_samples(generate_latest(handler.telemetry.registry).decode())


async def test_the_handler_reports_dead_letters_by_kind_and_what_it_applied() -> None:
    writer, sink = FakeWriter(poison="exec-x", refuse="exec-r"), FakeSink()
    handler = _handler(writer, sink, {})
    junk = RawMessage("t", 0, 9, b"k", b"not json")
    await handler.handle([*_messages("exec-a", "exec-x", "exec-r", "exec-b"), junk])
    samples = _telemetry_samples(handler)
    dead = {
        dict(k)["reason"]: v
        for k, v in labelled(samples, "stepmetrics_worker_dead_letters_total").items()
        if v
    }
    assert dead == {"invalid_envelope": 1, "cannot_be_applied": 1, "refused": 1}
    assert sum(dead.values()) == len(sink.letters)
    assert value(samples, "stepmetrics_worker_envelopes_applied_total") == 2
    assert value(samples, "stepmetrics_worker_envelopes_refused_total") == 1
    assert value(samples, "stepmetrics_worker_messages_total") == 5
    assert value(samples, "stepmetrics_worker_batch_size_messages_sum") == 5
    assert value(samples, "stepmetrics_worker_apply_latency_seconds_count") == 1


async def test_the_handler_reports_redis_errors_and_retries() -> None:
    writer, sink = FlakyWriter(failures=2), FakeSink(KafkaTimeoutError())
    handler = _handler(writer, sink, {})
    await handler.handle([*_messages("exec-a"), RawMessage("t", 0, 1, b"k", b"junk")])
    samples = _telemetry_samples(handler)
    retries = "stepmetrics_worker_retries_total"
    assert value(samples, retries, {"operation": "redis_write"}) == 2
    assert value(samples, retries, {"operation": "dead_letter_send"}) == 1
    assert value(samples, "stepmetrics_worker_redis_errors_total", {"kind": "unavailable"}) == 2
    assert value(samples, "stepmetrics_worker_redis_errors_total", {"kind": "rejected"}) == 0
    assert handler.counters.retries == 3
    assert [e.execution_id for e in writer.applied] == ["exec-a"]
