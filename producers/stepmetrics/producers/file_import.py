"""`stepmetrics import`'s work: validate a file of envelopes, then produce it to Kafka.

Beside `spool_sync` (which sends the SDK's own files) and with nothing but the
SDK's dependencies, so the `producer` extra is all `stepmetrics import` needs.

The file is JSON Lines as `stepmetrics export` writes it (docs/export.md): one
envelope per line, the Kafka message value exactly, without the key. Every
line is first checked with the worker's own decoder
(`stepmetrics.producers.events.decode_envelope`); a line is read with a bound
(the decoder's byte limit), so an endless line costs no memory. One bad line
refuses the whole file before anything is produced, unless `skip_invalid`:
then bad lines are skipped and counted. The second pass produces the lines in
file order, keyed by execution id as the SDK does, through the SDK's delivery
(`STEPMETRICS_KAFKA_*` settings, TLS and SASL included), at most `SEQ_WINDOW`
unacknowledged at a time (the worker's dedup window), each chunk retried
until acknowledged or `ROUNDS` attempts failed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO, Final

from stepmetrics.producers.batcher import Outgoing
from stepmetrics.producers.delivery import Delivery
from stepmetrics.producers.errors import EnvelopeError, ProducerError
from stepmetrics.producers.events import MAX_ENVELOPE_BYTES, SEQ_WINDOW, Envelope, decode_envelope
from stepmetrics.producers.settings import ProducerSettings
from stepmetrics.producers.spool_sync import ROUNDS

_FIRST_BACKOFF: Final = 0.2
# Read a line in pieces of this size while skipping the rest of a too long one.
_SKIP_PIECE: Final = 1 << 16
Progress = Callable[[str], object]


class ImportFileError(ProducerError, ValueError):
    """The file holds a line that is not a valid envelope (nothing was produced)."""


class ImportDeliveryError(ProducerError):
    """The broker did not acknowledge every envelope (what it did stays applied;
    importing the file again is safe)."""

    retriable = True


@dataclass(slots=True)
class ImportReport:
    """What an import checked and produced."""

    lines: int = 0
    valid: int = 0
    # "line N: reason" of the first MAX_REPORTED bad lines (the decoder bounds reasons)
    invalid: list[str] = field(default_factory=list)
    invalid_count: int = 0
    envelopes: int = 0  # acknowledged by the broker
    values: int = 0  # metric values in the acknowledged envelopes
    executions: set[str] = field(default_factory=set)


MAX_REPORTED: Final = 20


@dataclass(frozen=True, slots=True)
class Line:
    """One line of the file: its bytes without the newline, or why it is refused."""

    number: int
    data: bytes
    problem: str = ""


def read_lines(stream: BinaryIO) -> Iterator[Line]:
    """The file's lines; one longer than the decoder takes is skipped unread."""
    number = 0
    while True:
        data = stream.readline(MAX_ENVELOPE_BYTES + 1)
        if not data:
            return
        number += 1
        if data.endswith(b"\n"):
            yield Line(number, data[:-1])
        elif len(data) <= MAX_ENVELOPE_BYTES:  # the last line, without a newline
            yield Line(number, data)
        else:
            size = len(data) + _skip_line(stream)
            yield Line(number, b"", f"{size} bytes; an envelope is at most {MAX_ENVELOPE_BYTES}")


def _skip_line(stream: BinaryIO) -> int:
    skipped = 0
    while piece := stream.readline(_SKIP_PIECE):
        skipped += len(piece)
        if piece.endswith(b"\n"):
            break
    return skipped


def check_line(line: Line) -> Envelope:
    """The envelope a line holds; `ImportFileError` naming the line and the reason."""
    if line.problem:
        raise ImportFileError(f"line {line.number}: {line.problem}")
    try:
        return decode_envelope(line.data)
    except EnvelopeError as exc:
        raise ImportFileError(f"line {line.number}: {exc}") from exc


def validate(stream: BinaryIO, report: ImportReport, skip_invalid: bool) -> None:
    """First pass: check every line; raise on the first bad one unless `skip_invalid`."""
    for line in read_lines(stream):
        report.lines += 1
        try:
            check_line(line)
        except ImportFileError as exc:
            if not skip_invalid:
                raise
            report.invalid_count += 1
            if len(report.invalid) < MAX_REPORTED:
                report.invalid.append(str(exc))
            continue
        report.valid += 1


async def produce(
    stream: BinaryIO, settings: ProducerSettings, report: ImportReport, progress: Progress
) -> None:
    """Second pass: produce the valid lines in order, `SEQ_WINDOW` at a time."""
    delivery = Delivery(settings)
    chunk: list[Outgoing] = []
    invalid = 0
    try:
        for line in read_lines(stream):
            try:
                envelope = check_line(line)
            except ImportFileError as exc:
                invalid += 1
                if invalid > report.invalid_count:
                    raise ImportFileError(f"the file changed while importing: {exc}") from exc
                continue
            chunk.append(
                Outgoing(line.number, envelope.key, line.data, _values(envelope), envelope.seq)
            )
            report.executions.add(envelope.execution_id)
            if len(chunk) == SEQ_WINDOW:
                await _deliver(delivery, chunk, report, settings.bootstrap)
                chunk = []
                progress(f"{report.envelopes}/{report.valid} envelopes acknowledged")
        if chunk:
            await _deliver(delivery, chunk, report, settings.bootstrap)
    finally:
        await delivery.stop()


async def _deliver(
    delivery: Delivery, chunk: list[Outgoing], report: ImportReport, bootstrap: str
) -> None:
    pending = chunk
    for attempt in range(ROUNDS):
        if attempt:
            await asyncio.sleep(_FIRST_BACKOFF * 2**attempt)
        receipt = await delivery.send(pending)
        if receipt.given_up:
            raise ImportDeliveryError(f"the broker refused an envelope for good: {receipt.refusal}")
        report.envelopes += len(receipt.settled)
        report.values += receipt.delivered
        pending = [out for out in pending if out.number not in receipt.settled]
        if not pending:
            return
    raise ImportDeliveryError(
        f"{len(pending)} envelope(s) from line {pending[0].number} on not acknowledged after "
        f"{ROUNDS} attempts (is the broker at {bootstrap} up?)"
    )


def _values(envelope: Envelope) -> int:
    return sum(1 if kind == "s" else len(payload) for kind, _, _, payload in envelope.events)
