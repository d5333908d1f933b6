"""Reduce a batch of envelopes to one Redis script call per execution.

Pure Python, no Redis: the writer sends what `plan_batch` builds. A training
loop records the same scalar thousands of times, so each envelope is reduced
to its last value per scalar name and its concatenated values per list name
before anything travels to Redis. Which envelopes are new is only known inside
the script (the per-producer seq state), so the reduction stops at envelope boundaries
and the script merges the envelopes it applies.

The script call's KEYS and ARGV layout is documented in `apply.lua`; its fixed
KEYS are `stepmetrics.processors.writes.scripts.ApplyKeys`.
"""

from __future__ import annotations

import sys
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from stepmetrics.processors.writes.limits import WriteLimits
from stepmetrics.processors.writes.scripts import ApplyKeys
from stepmetrics.producers.events import KIND_SCALAR, Envelope
from stepmetrics.store.keys import RedisKeys

ScriptArg = str | bytes | int


@dataclass(slots=True)
class EnvelopeReduction:
    """What one envelope contributes, reduced per metric name."""

    identity: str
    seq: int
    n_events: int
    min_ts: int
    max_ts: int
    # name -> (ts_us, idx, value) of the envelope's last value of that scalar
    scalars: dict[str, tuple[int, int, float]]
    # name -> how many events of that scalar the envelope holds
    scalar_events: dict[str, int]
    # name -> (ts_us of the first value, values in record order as float64)
    lists: dict[str, tuple[int, array[float]]]


@dataclass(slots=True)
class ExecutionPlan:
    """One script call (keys and args) plus the index writes of one execution."""

    execution_id: str
    envelopes: Sequence[Envelope]
    keys: list[str]
    args: list[ScriptArg]
    min_ts: int
    n_events: int
    pipelines: set[str] = field(default_factory=set)
    deployments: set[str] = field(default_factory=set)
    scalar_names: set[str] = field(default_factory=set)
    list_names: list[str] = field(default_factory=list)


def reduce_envelope(envelope: Envelope) -> EnvelopeReduction:
    """Reduce one decoded envelope: last value per scalar, values per list."""
    scalars: dict[str, tuple[int, int, float]] = {}
    scalar_events: dict[str, int] = {}
    lists: dict[str, tuple[int, array[float]]] = {}
    min_ts = max_ts = envelope.events[0][2]
    for idx, (kind, name, ts_us, payload) in enumerate(envelope.events):
        if ts_us < min_ts:
            min_ts = ts_us
        elif ts_us > max_ts:
            max_ts = ts_us
        if kind == KIND_SCALAR:
            scalar_events[name] = scalar_events.get(name, 0) + 1
            current = scalars.get(name)
            # Same envelope = same seq: a later index wins a timestamp tie.
            if current is None or ts_us >= current[0]:
                scalars[name] = (ts_us, idx, payload)
        else:
            entry = lists.get(name)
            # array("d") converts in C: no per-value Python work here.
            if entry is None:
                lists[name] = (ts_us, array("d", payload))
            else:
                entry[1].extend(payload)
    return EnvelopeReduction(
        identity=envelope.identity,
        seq=envelope.seq,
        n_events=len(envelope.events),
        min_ts=min_ts,
        max_ts=max_ts,
        scalars=scalars,
        scalar_events=scalar_events,
        lists=lists,
    )


def pack_values(values: Sequence[float] | array[float]) -> bytes:
    """Pack floats as little-endian float64, the stored list format."""
    packed = values if isinstance(values, array) else array("d", values)
    if sys.byteorder != "little":
        packed = array("d", packed)  # a copy: never swap the caller's array
        packed.byteswap()
    return packed.tobytes()


def group_by_execution(envelopes: Iterable[Envelope]) -> dict[str, list[Envelope]]:
    """Group envelopes by execution id, keeping their order within each."""
    groups: dict[str, list[Envelope]] = {}
    for envelope in envelopes:
        groups.setdefault(envelope.execution_id, []).append(envelope)
    return groups


def group_by_origin(envelopes: Sequence[Envelope]) -> list[list[Envelope]]:
    """Split one execution's envelopes by (pipeline, deployment), in order of
    first appearance: the script applies or refuses each group whole."""
    groups: dict[tuple[str, str | None], list[Envelope]] = {}
    for envelope in envelopes:
        origin = (envelope.pipeline_name, envelope.deployment_name)
        groups.setdefault(origin, []).append(envelope)
    return list(groups.values())


def plan_execution(
    keys: RedisKeys, execution_id: str, envelopes: Sequence[Envelope], limits: WriteLimits
) -> ExecutionPlan:
    """Build the script call for envelopes of one execution (in order) that
    share one pipeline and deployment."""
    reductions = [reduce_envelope(envelope) for envelope in envelopes]
    list_slots: dict[str, int] = {}
    for reduction in reductions:
        for name in reduction.lists:
            list_slots.setdefault(name, len(list_slots) + 1)
    plan = ExecutionPlan(
        execution_id=execution_id,
        envelopes=envelopes,
        keys=[
            *ApplyKeys.of(keys, execution_id),
            *(keys.list_values(execution_id, name) for name in list_slots),
        ],
        args=[],
        min_ts=min(r.min_ts for r in reductions),
        n_events=sum(r.n_events for r in reductions),
        list_names=list(list_slots),
    )
    for envelope in envelopes:
        plan.pipelines.add(envelope.pipeline_name)
        if envelope.deployment_name is not None:
            plan.deployments.add(envelope.deployment_name)
    first = envelopes[0]
    plan.args = [first.pipeline_name, first.deployment_name or "", limits.list_values]
    plan.args += [len(reductions), len(list_slots), limits.producers]
    plan.args += [limits.scalar_names, limits.list_names, *list_slots]
    for reduction in reductions:
        _append_reduction(plan, reduction, list_slots)
    return plan


def _append_reduction(
    plan: ExecutionPlan, reduction: EnvelopeReduction, list_slots: dict[str, int]
) -> None:
    args = plan.args
    args += [reduction.identity, reduction.n_events, reduction.min_ts, reduction.max_ts]
    args += [len(reduction.scalars), len(reduction.lists)]
    seq = reduction.seq
    counts = reduction.scalar_events
    for name, (ts_us, idx, value) in reduction.scalars.items():
        args += [name, ts_us, seq, idx, repr(float(value)), counts[name]]
        plan.scalar_names.add(name)
    for name, (first_ts, values) in reduction.lists.items():
        args += [list_slots[name], first_ts, pack_values(values)]


def plan_batch(
    keys: RedisKeys, envelopes: Iterable[Envelope], limits: WriteLimits
) -> list[ExecutionPlan]:
    """One plan per execution and (pipeline, deployment) present in `envelopes`."""
    return [
        plan_execution(keys, execution_id, group, limits)
        for execution_id, same_execution in group_by_execution(envelopes).items()
        for group in group_by_origin(same_execution)
    ]
