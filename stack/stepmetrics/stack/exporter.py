"""`stepmetrics export`'s work: read executions from Redis, write envelopes as JSON Lines.

Each line of the output is one envelope exactly as the Kafka message value
(`stepmetrics.producers.events.encode_envelope`) followed by `\\n`; the Kafka
key (the execution id) is not in the line: it is the envelope's `eid`. The
reads are the store's (`stepmetrics.store.export`, bounded slices), the
packing is `ExecutionEnvelopes`; lines are written as soon as an envelope is
full, so memory stays bounded by one envelope and one read slice.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from stepmetrics.producers.events import Envelope, encode_envelope
from stepmetrics.stack.export_envelopes import ExecutionEnvelopes
from stepmetrics.stack.export_limits import EnvelopeLimits
from stepmetrics.store import export as reads
from stepmetrics.store.connection import RedisClient
from stepmetrics.store.export import ExecutionHead
from stepmetrics.store.keys import RedisKeys

WriteLine = Callable[[bytes], object]


@dataclass(frozen=True, slots=True)
class Selection:
    """Which executions to export: exactly one of the three is set."""

    execution_id: str | None = None
    pipeline_name: str | None = None
    deployment_name: str | None = None

    def __post_init__(self) -> None:
        given = [v for v in (self.execution_id, self.pipeline_name, self.deployment_name) if v]
        if len(given) != 1:
            raise ValueError("select exactly one of: an execution, a pipeline, a deployment")

    def admits(self, head: ExecutionHead) -> bool:
        """Whether the execution's meta still matches (an index entry can be stale)."""
        if self.pipeline_name is not None:
            return head.pipeline_name == self.pipeline_name
        if self.deployment_name is not None:
            return head.deployment_name == self.deployment_name
        return True


@dataclass(slots=True)
class ExportReport:
    """What an export wrote, and what it could not carry."""

    executions: int = 0
    envelopes: int = 0
    events: int = 0
    values: int = 0
    # executions selected but not stored (an unknown --execution), or stored without metrics
    missing: list[str] = field(default_factory=list)
    empty: list[str] = field(default_factory=list)
    # executions whose created_at/updated_at no event could carry
    times_lost: list[str] = field(default_factory=list)
    # values the source's limits dropped (its counters, which no event carries)
    dropped: int = 0


async def export(
    redis: RedisClient,
    keys: RedisKeys,
    selection: Selection,
    limits: EnvelopeLimits,
    write: WriteLine,
) -> ExportReport:
    """Write the selected executions' envelopes, one `write(line)` per envelope.

    Raises:
        StoreUnavailableError: Redis failed (what was written so far is incomplete).
    """
    report = ExportReport()
    with reads.redis_errors():
        async for execution_id in _ids(redis, keys, selection):
            head = await reads.read_head(redis, keys, execution_id)
            if head is None or not selection.admits(head):
                if selection.execution_id is not None:
                    report.missing.append(execution_id)
                continue
            await _export_one(redis, keys, head, limits, write, report)
    return report


async def _ids(redis: RedisClient, keys: RedisKeys, selection: Selection) -> AsyncIterator[str]:
    if selection.execution_id is not None:
        yield selection.execution_id
        return
    async for execution_id in reads.execution_ids(
        redis, keys, selection.pipeline_name, selection.deployment_name
    ):
        yield execution_id


async def _export_one(
    redis: RedisClient,
    keys: RedisKeys,
    head: ExecutionHead,
    limits: EnvelopeLimits,
    write: WriteLine,
    report: ExportReport,
) -> None:
    packer = ExecutionEnvelopes(head, limits)
    eid = head.execution_id

    def emit(envelopes: list[Envelope]) -> None:
        for envelope in envelopes:
            write(encode_envelope(envelope) + b"\n")
        report.envelopes += len(envelopes)

    async for scalars in reads.scalar_slices(redis, keys, head):
        for scalar in scalars:
            packer.scalar(scalar)
        emit(packer.take())
    async for outlines in reads.list_slices(redis, keys, eid):
        for outline in outlines:
            packer.begin_list(outline)
            async for values in reads.list_values(redis, keys, eid, outline):
                packer.list_values(values)
                emit(packer.take())
    emit(packer.finish())
    if packer.events == 0:
        report.empty.append(eid)
        return
    report.executions += 1
    report.dropped += await reads.dropped_values(redis, keys, eid)
    report.events += packer.events
    report.values += packer.values
    if packer.times_lost:
        report.times_lost.append(eid)
