"""Redis memory of the scale family's fleet: `used_memory` deltas and `MEMORY USAGE` per key.

After each fill `Probe.after_fill` reports, from `/api/v1/stats`
(`redis_used_memory_bytes`, `executions`):

- bytes per execution of this fill (the `used_memory` delta over the
  executions it added, from `MIN_DELTA_EXECUTIONS` added on) and of the
  whole fleet so far;

and from `MEMORY USAGE <key> SAMPLES 0` (exact, what the key and its Redis
object cost, allocator rounding included):

- one execution's own keys (meta, scalar values and orders, exactly-once
  state, list outline and values), median over sampled executions without
  and with their list; and the list value string alone, per value;
- the index entries of one execution: the executions, pipeline and
  deployment indexes, one entry per scalar name (and list name in one in
  ten), each as the index's bytes per member.

docs/operations.md turns these into a sizing formula.
"""

from __future__ import annotations

from typing import Any, Final

from benchmarks.harness.dataset import redis_keys
from benchmarks.harness.fleet import Fleet
from benchmarks.harness.runner import Measurement, measure
from tests.support.services import BenchStack, SyncRedis

FAMILY: Final = "scale"
SAMPLED: Final = 50  # executions of each kind whose keys are measured
MIN_DELTA_EXECUTIONS: Final = 500


class Probe:
    """Follows the fleet's memory from one fill to the next."""

    def __init__(self, stack: BenchStack, fleet: Fleet, stats: dict[str, Any]) -> None:
        self._stack = stack
        self._fleet = fleet
        self._keys = redis_keys()
        self._start = int(stats["redis_used_memory_bytes"])
        self._last = (self._start, 0)  # (used_memory, executions of the fleet)

    def after_fill(self, label: str, size: int, stats: dict[str, Any]) -> list[Measurement]:
        used = int(stats["redis_used_memory_bytes"])
        last_used, last_size = self._last
        self._last = (used, size)
        found = []
        # A few executions move used_memory less than Redis' own churn (buffers,
        # lazy frees): their delta says nothing, so it is only reported from
        # MIN_DELTA_EXECUTIONS on (the smoke test's tiny fills have none).
        if size - last_size >= MIN_DELTA_EXECUTIONS:
            found.append(
                self._bytes(
                    f"{label} used_memory per execution (this fill)",
                    [(used - last_used) / (size - last_size)],
                    f"{size - last_size:,} executions added",
                )
            )
        if size >= MIN_DELTA_EXECUTIONS:
            found.append(
                self._bytes(
                    f"{label} used_memory per execution (fleet)",
                    [(used - self._start) / size],
                    f"used_memory {used / 2**20:.1f} MiB, "
                    f"{stats['executions']:,} executions in Redis",
                )
            )
        client = self._stack.sync_redis()
        try:
            found.extend(self._per_key(client, label, size))
        finally:
            client.close()
        return found

    def _bytes(self, name: str, samples: list[float], note: str = "") -> Measurement:
        return measure(FAMILY, name, samples, "bytes", higher_is_better=False, note=note)

    def _per_key(self, client: SyncRedis, label: str, size: int) -> list[Measurement]:
        fleet, keys = self._fleet, self._keys
        with_list = [i for i in range(size) if fleet.has_list(i)][-SAMPLED:]
        without = [i for i in range(size) if not fleet.has_list(i)][-SAMPLED:]
        list_key = keys.list_values(fleet.execution_id(with_list[-1]), "l0")
        list_bytes = _usage(client, [list_key])
        parts = _parts(client, keys, fleet, without)
        return [
            self._bytes(f"{label} scalar hashes per scalar", parts["scalars"], "sv + so"),
            self._bytes(f"{label} meta + seq per execution", parts["fixed"]),
            self._bytes(f"{label} list outline per list", parts["outline"], "lc (+ ld if any)"),
            self._bytes(
                f"{label} execution keys, no list", _executions(client, keys, fleet, without)
            ),
            self._bytes(
                f"{label} execution keys, with list", _executions(client, keys, fleet, with_list)
            ),
            self._bytes(
                f"{label} list value string per value",
                [list_bytes / fleet.list_len],
                f"{list_bytes:,} bytes for {fleet.list_len:,} values",
            ),
            self._bytes(f"{label} index entries per execution", [self._index_bytes(client)]),
        ]

    def _index_bytes(self, client: SyncRedis) -> float:
        fleet, keys = self._fleet, self._keys
        per_member = {
            key: _usage(client, [key]) / max(1, int(client.zcard(key)))
            for key in (
                keys.executions,
                keys.pipeline_index(fleet.pipeline(0)),
                keys.deployment_index(fleet.deployment(0)),
                keys.scalar_name_index(fleet.names + "0"),
                keys.list_name_index("l0"),
            )
        }
        scalar = per_member[keys.scalar_name_index(fleet.names + "0")]
        lists = per_member[keys.list_name_index("l0")]
        fixed = sum(per_member.values()) - scalar - lists
        return fixed + fleet.scalars * scalar + lists / fleet.list_every


def _usage(client: SyncRedis, keys: list[str]) -> int:
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.memory_usage(key, samples=0)
    return sum(int(size or 0) for size in pipe.execute())


def _executions(client: SyncRedis, keys: Any, fleet: Fleet, ids: list[int]) -> list[float]:
    """Bytes of each execution's own keys (all in its hash-tag slot)."""
    sizes = []
    for i in ids:
        eid = fleet.execution_id(i)
        own = [
            keys.meta(eid),
            keys.scalar_values(eid),
            keys.scalar_orders(eid),
            keys.seq(eid),
            keys.list_created(eid),
            keys.list_dropped(eid),
            keys.list_values(eid, "l0"),
        ]
        sizes.append(float(_usage(client, own)))
    return sizes


def _parts(client: SyncRedis, keys: Any, fleet: Fleet, ids: list[int]) -> dict[str, list[float]]:
    """Bytes of the scalar hashes per scalar, of meta + seq, and of a list's outline."""
    parts: dict[str, list[float]] = {"scalars": [], "fixed": [], "outline": []}
    for i in ids:
        eid = fleet.execution_id(i)
        scalars = _usage(client, [keys.scalar_values(eid), keys.scalar_orders(eid)])
        parts["scalars"].append(scalars / fleet.scalars)
        parts["fixed"].append(float(_usage(client, [keys.meta(eid), keys.seq(eid)])))
        listed = fleet.execution_id(i - i % fleet.list_every)  # the list of its group
        outline = [keys.list_created(listed), keys.list_dropped(listed)]
        parts["outline"].append(float(_usage(client, outline)))
    return parts
