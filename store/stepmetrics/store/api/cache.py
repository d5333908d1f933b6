"""Version-checked cache of rendered answers about one execution.

The worker's apply script adds one to the execution's `version` (a field of
its `meta` hash, see `stepmetrics.store.keys`) for every envelope it applies
and leaves it alone on a replay, and every key an execution-scoped answer
reads is written only by that script. So an answer rendered while the version
was V is still exact while the version is V: a hit costs one `HGET`.

Correctness rests on reading the version BEFORE rendering: a write that lands
while the answer renders raises the version past the one the entry is stored
under, so the next request renders afresh (never the other way round). An
execution without a version (written by an older worker, or unknown) is never
cached.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Final, TypeAlias

# (path, raw query string): the whole request an answer depends on, besides
# the stored data. Two spellings of one query are two entries; both exact.
CacheKey: TypeAlias = tuple[str, bytes]

DEFAULT_MAX_BYTES: Final = 64 << 20
DEFAULT_MAX_ENTRIES: Final = 1024


class ResponseCache:
    """A bounded LRU of response bodies, each tagged with the version of the
    execution it was rendered at.

    Args:
        max_bytes: total size of the bodies kept; a body larger than a
            quarter of it is not kept (it would evict everything else).
        max_entries: number of bodies kept.
    """

    def __init__(
        self, max_bytes: int = DEFAULT_MAX_BYTES, max_entries: int = DEFAULT_MAX_ENTRIES
    ) -> None:
        if max_bytes < 1 or max_entries < 1:
            raise ValueError(
                f"max_bytes and max_entries must be >= 1, got {max_bytes} and {max_entries}"
            )
        self.max_bytes = max_bytes
        self.max_entries = max_entries
        self.size = 0
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[CacheKey, tuple[bytes, bytes]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: CacheKey, version: bytes) -> bytes | None:
        """The body stored for `key` if it was rendered at `version`, else None."""
        entry = self._entries.get(key)
        if entry is None or entry[0] != version:
            self.misses += 1
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        return entry[1]

    def put(self, key: CacheKey, version: bytes, body: bytes) -> None:
        """Keep `body` as the answer to `key` at `version` (replacing any other)."""
        old = self._entries.pop(key, None)
        if old is not None:
            self.size -= len(old[1])
        if len(body) > self.max_bytes // 4:
            return
        self._entries[key] = (version, body)
        self.size += len(body)
        while self.size > self.max_bytes or len(self._entries) > self.max_entries:
            _, (_, evicted) = self._entries.popitem(last=False)
            self.size -= len(evicted)
