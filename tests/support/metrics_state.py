"""Test helpers: the state an ideal processor would produce, and the real one."""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field

from stepmetrics.producers.events import MAX_LIST_VALUES, NON_FINITE_WIRE, Envelope, WireEvent
from stepmetrics.store.connection import RedisClient
from stepmetrics.store.keys import RedisKeys


@dataclass
class ExecutionState:
    scalars: dict[str, str] = field(default_factory=dict)
    lists: dict[str, list[float]] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)


def _text(raw: bytes | str) -> str:
    return raw.decode() if isinstance(raw, bytes) else raw


def _value(raw: object) -> float:
    if isinstance(raw, str):
        return NON_FINITE_WIRE[raw]
    return float(raw)  # type: ignore[arg-type]


def expected_state(envelopes: list[Envelope]) -> dict[str, ExecutionState]:
    """Apply each distinct envelope once, in the given (delivery) order."""
    state: dict[str, ExecutionState] = {}
    orders: dict[tuple[str, str], tuple[int, int, int]] = {}
    seen: set[tuple[str, str]] = set()
    for env in envelopes:
        if (env.execution_id, env.identity) in seen:  # seq counts per execution
            continue
        seen.add((env.execution_id, env.identity))
        ex = state.setdefault(env.execution_id, ExecutionState())
        for idx, event in enumerate(env.events):
            _apply_event(ex, orders, env, idx, event)
    return state


def _apply_event(
    ex: ExecutionState,
    orders: dict[tuple[str, str], tuple[int, int, int]],
    env: Envelope,
    idx: int,
    event: WireEvent,
) -> None:
    kind, name, ts_us, payload = event
    if kind == "s":
        order = (ts_us, env.seq, idx)
        if order > orders.get((env.execution_id, name), (-1, -1, -1)):
            orders[(env.execution_id, name)] = order
            ex.scalars[name] = repr(_value(payload))
        return
    values = ex.lists.setdefault(name, [])
    room = MAX_LIST_VALUES - len(values)
    values.extend(_value(v) for v in payload[: max(room, 0)])
    if len(payload) > room:
        ex.dropped[name] = ex.dropped.get(name, 0) + len(payload) - max(room, 0)


async def actual_state(
    client: RedisClient, keys: RedisKeys, execution_ids: list[str]
) -> dict[str, ExecutionState]:
    """Read back what the processor stored for these executions."""
    state: dict[str, ExecutionState] = {}
    for eid in execution_ids:
        ex = ExecutionState()
        sv = await client.hgetall(keys.scalar_values(eid))
        ex.scalars = {_text(k): _text(v) for k, v in sv.items()}
        list_names = await client.hkeys(keys.list_created(eid))
        for raw_name in list_names:
            name = _text(raw_name)
            packed = array("d")
            stored = await client.get(keys.list_values(eid, name))
            packed.frombytes(stored if isinstance(stored, bytes) else b"")
            ex.lists[name] = packed.tolist()
        ld = await client.hgetall(keys.list_dropped(eid))
        ex.dropped = {_text(k): int(v) for k, v in ld.items()}
        state[eid] = ex
    return state


async def snapshot(client: RedisClient, prefix: str) -> dict[bytes, object]:
    """Every key under `prefix` (except the counters) with its full value."""
    result: dict[bytes, object] = {}
    async for key in client.scan_iter(match=f"{prefix}:*", count=1000):
        if key.endswith(b":stats"):
            continue
        kind = _text(await client.type(key))
        if kind == "hash":
            result[key] = await client.hgetall(key)
        elif kind == "set":
            result[key] = await client.smembers(key)
        elif kind == "zset":
            result[key] = await client.zrange(key, 0, -1, withscores=True)
        else:
            result[key] = await client.get(key)
    return result
