"""The delete script's Python side matches what `delete.lua` reads and returns."""

from __future__ import annotations

import re

import pytest

from stepmetrics.store.keys import RedisKeys
from stepmetrics.store.lifecycle import DELETE_LUA, DeleteKeys, DeleteReply
from stepmetrics.store.lifecycle.deletion import STATUSES, index_keys


def test_the_lua_reads_keys_in_the_order_of_delete_keys() -> None:
    declared = re.findall(r"^local (\w+)_key = KEYS\[(\d+)\]$", DELETE_LUA, re.MULTILINE)
    assert [name for name, _ in declared] == list(DeleteKeys._fields)
    assert [int(i) for _, i in declared] == list(range(1, len(DeleteKeys._fields) + 1))
    keys = RedisKeys("p")
    assert DeleteKeys.of(keys, "e1") == tuple(getattr(keys, f)("e1") for f in DeleteKeys._fields)


def test_every_data_key_but_the_tombstone_is_deleted() -> None:
    data = re.search(r"local DATA_KEYS = \{([^}]*)\}", DELETE_LUA)
    assert data is not None
    deleted = [name.removesuffix("_key") for name in re.findall(r"\w+", data.group(1))]
    assert deleted == [f for f in DeleteKeys._fields if f != "tombstone"]


def test_the_documented_reply_and_statuses_are_the_parsers() -> None:
    doc = DELETE_LUA[DELETE_LUA.index("REPLY (") : DELETE_LUA.index("]]")]
    documented = re.findall(r"^\s+(\d+) (\w+)", doc, re.MULTILINE)
    assert [name for _, name in documented] == list(DeleteReply._fields)
    returned = set(re.findall(r"return \{'(\w+)'", DELETE_LUA))
    returned |= set(re.findall(r"\{'(\w+)', fixed", DELETE_LUA))
    assert returned == set(STATUSES)


def test_a_reply_parses_and_names_its_indexes() -> None:
    reply = DeleteReply.parse([b"deleted", b"train", b"", [b"acc"], [b"loss", b"a/b"]])
    assert reply == DeleteReply("deleted", "train", "", ("acc",), ("loss", "a/b"))
    keys = RedisKeys("p")
    assert index_keys(keys, reply) == [
        keys.executions,
        keys.updated,
        keys.pipeline_index("train"),
        keys.scalar_name_index("acc"),
        keys.list_name_index("loss"),
        keys.list_name_index("a/b"),
    ]
    with pytest.raises(ValueError, match="status 'gone'"):
        DeleteReply.parse([b"gone", b"", b"", [], []])
