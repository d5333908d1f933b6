"""The apply script's Python side matches what `apply.lua` reads and returns."""

from __future__ import annotations

import re

from redis import exceptions as redis_errors

from stepmetrics.processors.errors import RedisUnavailableError, WriteRejectedError
from stepmetrics.processors.writes.limits import WriteLimits
from stepmetrics.processors.writes.reduce import plan_batch
from stepmetrics.processors.writes.scripts import APPLY_LUA, ApplyKeys, ApplyReply
from stepmetrics.processors.writes.writer import _wrap
from stepmetrics.producers.events import SEQ_WINDOW, Envelope, WireEvent
from stepmetrics.store.keys import RedisKeys
from stepmetrics.store.stats import (
    APPLY_COUNTERS,
    META_DROPPED_LIST_VALUES,
    META_DROPPED_SCALAR_EVENTS,
    ApplyCounts,
)


def test_the_lua_reads_keys_in_the_order_of_apply_keys() -> None:
    declared = re.findall(r"^local (\w+)_key = KEYS\[(\d+)\]$", APPLY_LUA, re.MULTILINE)
    assert [name for name, _ in declared] == list(ApplyKeys._fields)
    assert [int(i) for _, i in declared] == list(range(1, len(ApplyKeys._fields) + 1))
    assert f"local FIXED_KEYS = {len(ApplyKeys._fields)}\n" in APPLY_LUA


def test_apply_keys_are_the_execution_keys_of_the_same_names() -> None:
    keys = RedisKeys("p")
    fixed = ApplyKeys.of(keys, "e1")
    assert fixed == tuple(getattr(keys, name)("e1") for name in ApplyKeys._fields)


def test_the_lua_returns_counts_in_the_order_of_apply_counts() -> None:
    reply = APPLY_LUA[APPLY_LUA.index("local function reply(") :]
    returned = re.search(r"return \{\s*\{([^}]*)\}", reply)
    assert returned is not None
    assert re.findall(r"counts\.(\w+)", returned.group(1)) == list(APPLY_COUNTERS)


def test_the_documented_reply_is_apply_reply() -> None:
    doc = APPLY_LUA[APPLY_LUA.index("REPLY (") : APPLY_LUA.index("]]")]
    documented = re.findall(r"^\s+(\d+) (\w+)", doc, re.MULTILINE)
    assert [name for _, name in documented] == list(ApplyReply._fields)
    assert [int(i) for i, _ in documented] == list(range(1, len(ApplyReply._fields) + 1))


def test_a_reply_parses_into_named_fields() -> None:
    raw = [[1, 2, 3, 4, 5, 6, 7, 8, 9], b"17", 1, [b"acc"], [b"curve"], b"train", b""]
    raw += [[b"p:1", b"why"], 0, [b"x"], [], b"19", b"1764000000000001"]
    assert ApplyReply.parse(raw) == ApplyReply(
        ApplyCounts(1, 2, 3, 4, 5, 6, 7, 8, 9),
        17,
        True,
        ("acc",),
        ("curve",),
        "train",
        "",
        {"p:1": "why"},
        False,
        ("x",),
        (),
        19,
        1764000000000001,
    )
    empty = ApplyReply.parse([[0] * 9, b"", 0, [], [], b"", b"", [], 1, [], [], b"", b""])
    assert empty.created_us is None
    assert empty.incarnation is None
    assert empty.updated_us is None
    assert empty.refused
    assert empty.rejected == {}


def test_redis_errors_map_to_retriable_or_rejected() -> None:
    lost = _wrap(redis_errors.NoScriptError("No matching script"))
    assert isinstance(lost, RedisUnavailableError)
    assert lost.retriable
    assert isinstance(_wrap(redis_errors.ConnectionError("refused")), RedisUnavailableError)
    assert isinstance(_wrap(redis_errors.ResponseError("OOM command")), RedisUnavailableError)
    rejected = _wrap(redis_errors.ResponseError("WRONGTYPE oops"))
    assert isinstance(rejected, WriteRejectedError)
    assert not rejected.retriable


def test_the_lua_window_is_the_sdk_window() -> None:
    # The SDK keeps unsettled envelopes within SEQ_WINDOW; the script's hole
    # mask must cover at least that far below the high-water mark.
    assert f"\nlocal WINDOW = {SEQ_WINDOW}\n" in APPLY_LUA
    assert "\n--#include" not in APPLY_LUA  # dedup.lua is in, at its place


def test_the_lua_adds_drops_to_the_meta_fields_the_reader_reads() -> None:
    drops = APPLY_LUA[APPLY_LUA.index("local function write_drops(") :]
    drops = drops[: drops.index("\nend\n")]
    fields = re.findall(r"'HINCRBY', meta_key, '(\w+)'", drops)
    assert fields == [META_DROPPED_SCALAR_EVENTS, META_DROPPED_LIST_VALUES]


def _documented_fixed_args() -> list[str]:
    doc = APPLY_LUA[APPLY_LUA.index("ARGV: ") : APPLY_LUA.index("then <list names")]
    doc = re.sub(r"\([^)]*\)", "", doc[doc.index("order:") + len("order:") :])
    return doc.split()


def test_the_lua_reads_the_fixed_args_in_the_documented_order() -> None:
    names: list[str] = []
    indices: list[int] = []
    for left, right in re.findall(r"^local ([\w, ]+) = (.*ARGV\[\d+\].*)$", APPLY_LUA, re.M):
        names += left.split(", ")
        indices += [int(i) for i in re.findall(r"ARGV\[(\d+)\]", right)]
    documented = _documented_fixed_args()
    assert names == documented
    assert indices == list(range(1, len(documented) + 1))
    assert f"local FIXED_ARGS = {len(documented)}\n" in APPLY_LUA


def test_the_plan_sends_the_fixed_args_in_the_documented_order() -> None:
    limits = WriteLimits(list_values=7, scalar_names=8, list_names=9, producers=5)
    events: list[WireEvent] = [("s", "a", 1, 1.0), ("l", "c", 1, [2.0])]
    envelope = Envelope("p", 3, "e1", "train", "dep", events)
    (plan,) = plan_batch(RedisKeys("p"), [envelope], limits)
    sent = dict(zip(_documented_fixed_args(), plan.args, strict=False))
    assert sent == {
        "pipeline_name": "train",
        "deployment_name": "dep",
        "cap": 7,
        "n_envelopes": 1,
        "n_lists": 1,
        "max_producers": 5,
        "max_scalar_names": 8,
        "max_list_names": 9,
    }
    assert plan.args[len(sent)] == "c"  # then the list names by slot
