"""What index entries this worker already wrote, so a batch skips no-op ZADDs.

Under fan-in every batch holds ~1 envelope of each of many executions, and
each re-sent `ZADD ... LT` of the execution into `P:idx:executions`, its
pipeline, deployment and name indexes, and `ZADD ... GT` into `P:idx:updated`,
although almost all change nothing. `IndexCache` remembers, per execution,
the index keys this process wrote it into with which `created_us` score, so
`MetricsWriter` only sends the writes that can change something.

An entry is only trusted while everything it was built on still holds:

- same **incarnation**: `apply.lua` stamps an execution's meta with the
  server time (µs) when it creates it and returns it in every reply. A deleted
  execution (delete through the API or retention) recreated after its
  tombstone expired, or one recreated after Redis lost its data (FLUSHALL,
  a restart without persistence), has another stamp, so it misses the cache and
  is indexed whole again; whichever worker recreated it.
- same **created_us**: a late event that lowered it (on this worker or
  another) rescores every entry, so the cached scores are stale: miss.
- **age**: an entry is rebuilt (every index write sent again) `max_age_s`
  after it was last built. This bounds what no reply can show: index entries
  lost while the execution's meta survived (a Redis restored from an older
  snapshot, someone removing index entries by hand) are back within that time.
- A reply without `created_us` (the execution is tombstoned) drops the entry.

`P:idx:updated` (retention's index by last update) is written when the
execution's `updated_us` moved past the score this worker last wrote (by
`updated_step_us` or more; 0 by default, so the index stays equal to the meta's
`updated_us` and a replay changes nothing). A step of a minute would also drop
that last ZADD per execution and batch under fan-in, and would be safe for
retention (it works in days and `delete.lua` re-checks the meta's `updated_us`
before deleting, so a lagging score only makes a sweep look at a fresh
execution, never delete one early), but a replay by another worker would then
move scores that the exact-state tests (and exports) compare; not the default.

Bounded: at most `max_executions` entries and `max_keys` remembered index keys
over all of them (an execution's names are bounded by the name limits), least
recently used dropped first; `size`, `keys`, `evictions` and `hits`/`misses`
count it. A worker restart starts empty (everything is written once more).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final

# Defaults (documented in docs/worker.md): 10,000 executions, 1,000,000 index
# keys remembered (~100 MB at worst, ~2 MB under fan-in with a few names each),
# entries rebuilt after 10 minutes, `P:idx:updated` written whenever it moves.
MAX_EXECUTIONS: Final = 10_000
MAX_KEYS: Final = 1_000_000
MAX_AGE_S: Final = 600.0
UPDATED_STEP_US: Final = 0


@dataclass(slots=True)
class IndexEntry:
    """The index state this worker wrote for one execution."""

    incarnation: int
    created_us: int
    built_at: float
    keys: set[str] = field(default_factory=set)
    updated_us: int | None = None


@dataclass(frozen=True, slots=True)
class Written:
    """The index writes one reply sent, for `IndexCache.record`."""

    incarnation: int | None
    created_us: int
    base: IndexEntry | None  # the entry `lookup` returned (None: a miss)
    keys: list[str]
    updated_us: int | None


class IndexCache:
    """An LRU of `IndexEntry` by execution id (see the module docstring)."""

    def __init__(
        self,
        *,
        max_executions: int = MAX_EXECUTIONS,
        max_keys: int = MAX_KEYS,
        max_age_s: float = MAX_AGE_S,
        updated_step_us: int = UPDATED_STEP_US,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        for name, value in (("max_executions", max_executions), ("max_keys", max_keys)):
            if type(value) is not int or value < 0:
                raise ValueError(f"IndexCache {name}={value!r} is not allowed; allowed: int >= 0")
        if max_age_s <= 0 or updated_step_us < 0:
            raise ValueError(
                f"IndexCache max_age_s={max_age_s!r}, updated_step_us={updated_step_us!r} "
                "are not allowed; allowed: max_age_s > 0, updated_step_us >= 0"
            )
        self.max_executions = max_executions
        self.max_keys = max_keys
        self.max_age_s = max_age_s
        self.updated_step_us = updated_step_us
        self._clock = clock
        self._entries: OrderedDict[str, IndexEntry] = OrderedDict()
        self.keys = 0  # index keys remembered over all entries
        self.evictions = self.hits = self.misses = 0

    @property
    def size(self) -> int:
        """How many executions the cache holds."""
        return len(self._entries)

    def lookup(
        self, execution_id: str, incarnation: int | None, created_us: int
    ) -> IndexEntry | None:
        """The execution's entry while it is valid for this reply, else None
        (then every index write is sent)."""
        entry = self._entries.get(execution_id)
        if (
            entry is not None
            and incarnation is not None
            and entry.incarnation == incarnation
            and entry.created_us == created_us
            and self._clock() - entry.built_at < self.max_age_s
        ):
            self._entries.move_to_end(execution_id)
            self.hits += 1
            return entry
        self.misses += 1
        return None

    def updated_due(self, entry: IndexEntry | None, updated_us: int) -> bool:
        """Whether `P:idx:updated` needs `updated_us` (see the module docstring)."""
        if entry is None or entry.updated_us is None:
            return True
        last = entry.updated_us
        return updated_us > last and updated_us >= last + self.updated_step_us

    def record(self, execution_id: str, written: Written) -> None:
        """Remember index writes that were sent (after the pipeline succeeded):
        added to the valid entry they were computed from, else a new entry."""
        entry = self._entries.get(execution_id)
        if written.base is None or entry is not written.base:
            self.forget(execution_id)
            if written.incarnation is None:
                return  # written before apply.lua stamped incarnations: not kept
            entry = IndexEntry(written.incarnation, written.created_us, self._clock())
            self._entries[execution_id] = entry
        before = len(entry.keys)
        entry.keys.update(written.keys)
        self.keys += len(entry.keys) - before
        if written.updated_us is not None:
            entry.updated_us = written.updated_us
        while len(self._entries) > self.max_executions or self.keys > self.max_keys:
            _, old = self._entries.popitem(last=False)
            self.keys -= len(old.keys)
            self.evictions += 1

    def forget(self, execution_id: str) -> None:
        """Drop the execution's entry (it is deleted, or its writes failed)."""
        old = self._entries.pop(execution_id, None)
        if old is not None:
            self.keys -= len(old.keys)

    def clear(self) -> None:
        """Drop every entry."""
        self._entries.clear()
        self.keys = 0
