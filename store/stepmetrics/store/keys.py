"""Every Redis key stepmetrics uses, built in this one module.

Layout (`P` = prefix, default "stepmetrics"; `E` = execution id). All keys of one
execution carry the hash tag `{E}`, so they live in one Redis Cluster slot and
one Lua script can update them atomically:

    P:{E}:meta          HASH   pipeline_name, deployment_name, created_us, updated_us,
                               version (starts at the Redis clock in µs when E is
                               created; +1 per applied envelope, never changed by a
                               replay: readers cache answers about E per version),
                               incarnation (the Redis clock in µs when E was created:
                               another value = E was deleted or lost and recreated;
                               the worker's index cache keys on it),
                               dropped_scalar_events, dropped_list_values (what the
                               worker's per-execution name limits dropped; absent = 0)
    P:{E}:sv            HASH   scalar name -> value (repr of a float, 'nan', 'inf', '-inf')
    P:{E}:so            HASH   scalar name -> order "ts_us seq idx" of the kept value
    P:{E}:lc            HASH   list name -> ts_us of the list's first value (its created_at)
    P:{E}:ld            HASH   list name -> number of values dropped by the 50,000 cap
    P:{E}:l:<name>      STRING list values, packed little-endian float64
    P:{E}:seq           HASH   producer id -> "hw mask": the highest applied seq of
                               that producer in E, and a 32-bit mask whose bit i is
                               set while seq hw-1-i is not applied yet (the
                               exactly-once state: O(producers), see docs/worker.md)
    P:{E}:applied       SET    written by versions before the seq hash: identities
                               ("producer_id:seq") of applied envelopes; folded into
                               P:{E}:seq and deleted when E is next written
    P:{E}:tomb          HASH   the tombstone of a deleted E (stepmetrics.store.lifecycle):
                               deleted_us, pipeline_name, deployment_name, and one
                               field `s:<name>` / `l:<name>` per scalar / list name
                               E held (what its index cleanup needs); expires after
                               STEPMETRICS_TOMBSTONE_SECONDS. While it exists the
                               apply script applies nothing to E.

Global indexes (sorted sets scored by the execution's created_us; written with
ZADD LT, which adds new members and only ever lowers a score, so replays change
nothing and a late older event moves the score down to the new created_us)
serve the query filters without SCAN:

    P:idx:executions             every execution
    P:idx:pipeline:<pipeline>    executions of a pipeline
    P:idx:deployment:<name>      executions of a deployment
    P:idx:scalar:<metric name>   executions having that scalar metric
    P:idx:list:<metric name>     executions having that list metric

One more index is scored by the execution's `updated_us` instead, written with
ZADD GT (a score only moves forward); retention walks it oldest first:

    P:idx:updated                every execution, by last update

Operational: `P:stats` HASH of worker counters (see stepmetrics.store.stats).

Encoding (why no two things share a key): in `P:{E}:...` the execution id is
written as `tag(E)`, E with `%`, `{` and `}` percent-escaped (`%25`, `%7B`,
`%7D`), so the hash tag ends exactly where E ends and the rest of the key (a
fixed suffix, or `l:` and the metric name as is) cannot reach into it. Two
execution keys are equal only if their ids and suffixes are: Redis hashes the
text between the first `{` (the prefix has none) and the first `}` after it,
which is exactly `tag(E)`, and `tag` is injective. An id without those three
characters is written unchanged. Index keys are `P:idx:<kind>:<name>`, one
fixed kind segment before the name, so names need no escaping there either.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

DEFAULT_PREFIX = "stepmetrics"
# Stands for an execution id in `around_tag`: hash_tag leaves it as is.
_ID_MARK = "\x00"

_TAG_ESCAPES = str.maketrans({"%": "%25", "{": "%7B", "}": "%7D"})


def hash_tag(execution_id: str) -> str:
    """The text inside `{...}` of an execution's keys: `execution_id`, escaped
    so that it holds no brace (injective; unchanged for ids without % { })."""
    if not execution_id:
        raise ValueError("an execution id must not be empty (it is the keys' hash tag)")
    return execution_id.translate(_TAG_ESCAPES)


def around_tag(execution_key: Callable[[str], str]) -> tuple[str, str]:
    """What the keys built by `execution_key` (e.g. `RedisKeys(...).meta`) hold
    before and after the hash tag: a script that reads the keys of executions
    it found (stepmetrics.store.name_batch.lua) joins `before + hash_tag(E) +
    after`, so the layout stays defined here."""
    before, _, after = execution_key(_ID_MARK).partition(_ID_MARK)
    if "{" not in before:  # the mark went elsewhere (a prefix holding it)
        raise ValueError(f"cannot find the hash tag in keys starting {before[:80]!r}")
    return before, after


@dataclass(frozen=True, slots=True)
class RedisKeys:
    """Key builder for one prefix (tests use a unique prefix each)."""

    prefix: str = DEFAULT_PREFIX

    def __post_init__(self) -> None:
        if not self.prefix or any(c in self.prefix for c in "{} \t\r\n"):
            raise ValueError(
                f"Redis key prefix {self.prefix!r} is not allowed: it must be non-empty "
                "without braces or whitespace"
            )

    # -- one execution (one cluster slot) ---------------------------------
    def _execution(self, execution_id: str, suffix: str) -> str:
        return f"{self.prefix}:{{{hash_tag(execution_id)}}}:{suffix}"

    def meta(self, execution_id: str) -> str:
        return self._execution(execution_id, "meta")

    def scalar_values(self, execution_id: str) -> str:
        return self._execution(execution_id, "sv")

    def scalar_orders(self, execution_id: str) -> str:
        return self._execution(execution_id, "so")

    def list_created(self, execution_id: str) -> str:
        return self._execution(execution_id, "lc")

    def list_dropped(self, execution_id: str) -> str:
        return self._execution(execution_id, "ld")

    def list_values(self, execution_id: str, name: str) -> str:
        return self._execution(execution_id, f"l:{name}")

    def seq(self, execution_id: str) -> str:
        return self._execution(execution_id, "seq")

    def applied(self, execution_id: str) -> str:
        return self._execution(execution_id, "applied")

    def tombstone(self, execution_id: str) -> str:
        return self._execution(execution_id, "tomb")

    # -- global indexes ----------------------------------------------------
    @property
    def executions(self) -> str:
        return f"{self.prefix}:idx:executions"

    @property
    def updated(self) -> str:
        """Every execution scored by its `updated_us` (ZADD GT)."""
        return f"{self.prefix}:idx:updated"

    def pipeline_index(self, pipeline_name: str) -> str:
        return f"{self.prefix}:idx:pipeline:{pipeline_name}"

    def deployment_index(self, deployment_name: str) -> str:
        return f"{self.prefix}:idx:deployment:{deployment_name}"

    def scalar_name_index(self, name: str) -> str:
        return f"{self.prefix}:idx:scalar:{name}"

    def list_name_index(self, name: str) -> str:
        return f"{self.prefix}:idx:list:{name}"

    # -- operations --------------------------------------------------------
    @property
    def stats(self) -> str:
        return f"{self.prefix}:stats"


class ExecutionKeys(NamedTuple):
    """The fixed keys of one execution, in the order the apply and delete
    scripts take them as KEYS (each script's unit test checks its `.lua`
    against this order); the `l:<name>` list keys are not fixed."""

    meta: str
    scalar_values: str
    scalar_orders: str
    list_created: str
    list_dropped: str
    seq: str
    # the set of applied identities of old versions, migrated into `seq`
    applied: str
    # exists while the execution is deleted: nothing is applied to it
    tombstone: str

    @classmethod
    def of(cls, keys: RedisKeys, execution_id: str) -> ExecutionKeys:
        """The fixed keys of `execution_id` (all in its hash tag)."""
        return cls(*(getattr(keys, name)(execution_id) for name in cls._fields))
