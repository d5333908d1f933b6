"""The key layout: injective, and every key of an execution in its one slot."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from redis.crc import key_slot

from stepmetrics.store.keys import RedisKeys, around_tag, hash_tag

KEYS = RedisKeys("pfx")
# Ids and names as the SDK allows them (no control characters), braces,
# colons and percent signs made likely: they are what key collisions need.
TEXT = st.text(
    alphabet=st.sampled_from("ab{}:%l é") | st.characters(blacklist_categories=("Cc", "Cs")),
    min_size=1,
    max_size=20,
)


def execution_keys(execution_id: str, list_name: str) -> dict[str, str]:
    return {
        "meta": KEYS.meta(execution_id),
        "sv": KEYS.scalar_values(execution_id),
        "so": KEYS.scalar_orders(execution_id),
        "lc": KEYS.list_created(execution_id),
        "ld": KEYS.list_dropped(execution_id),
        "seq": KEYS.seq(execution_id),
        "applied": KEYS.applied(execution_id),
        f"l:{list_name}": KEYS.list_values(execution_id, list_name),
    }


def test_the_collisions_found_in_review_are_gone() -> None:
    assert KEYS.list_values("run1", "b}:l:c") != KEYS.list_values("run1}:l:b", "c")
    assert KEYS.list_values("victim", "z}:meta") != KEYS.meta("victim}:l:z")


def test_ids_without_braces_or_percent_keep_their_keys() -> None:
    assert KEYS.meta("exec-42") == "pfx:{exec-42}:meta"
    assert KEYS.list_values("e:1", "loss list") == "pfx:{e:1}:l:loss list"
    assert hash_tag("a%b{c}") == "a%25b%7Bc%7D"


def test_an_empty_id_has_no_keys() -> None:
    with pytest.raises(ValueError, match="must not be empty"):
        KEYS.meta("")


@given(TEXT, TEXT)
def test_every_key_of_an_execution_is_in_the_slot_of_its_tag(eid: str, name: str) -> None:
    slot = key_slot(hash_tag(eid).encode())
    assert {key_slot(k.encode()) for k in execution_keys(eid, name).values()} == {slot}


@given(TEXT, TEXT, TEXT, TEXT)
def test_different_executions_or_names_never_share_a_key(
    eid1: str, name1: str, eid2: str, name2: str
) -> None:
    first, second = execution_keys(eid1, name1), execution_keys(eid2, name2)
    for what1, key1 in first.items():
        for what2, key2 in second.items():
            if key1 == key2:
                assert (eid1, what1) == (eid2, what2)


@given(TEXT, TEXT)
def test_index_keys_of_different_kinds_or_names_differ(name1: str, name2: str) -> None:
    builders = [
        KEYS.pipeline_index,
        KEYS.deployment_index,
        KEYS.scalar_name_index,
        KEYS.list_name_index,
    ]
    built = {(i, n): b(n) for i, b in enumerate(builders) for n in (name1, name2)}
    assert len(set(built.values())) == len(built)


@pytest.mark.parametrize("eid", ["e", "%7D é {x}", "a}b", "{", "%", "x}:meta", "n\x00ul"])
def test_around_tag_rebuilds_every_execution_key(eid: str) -> None:
    keys = RedisKeys("p:x")
    builders = [keys.meta, keys.scalar_values, keys.scalar_orders, keys.list_created]

    def odd_list(execution_id: str) -> str:
        return keys.list_values(execution_id, "l\x00:}")

    for build in [*builders, odd_list]:
        before, after = around_tag(build)
        assert before + hash_tag(eid) + after == build(eid)


def test_around_tag_refuses_a_prefix_it_cannot_split() -> None:
    with pytest.raises(ValueError, match="cannot find the hash tag"):
        around_tag(RedisKeys("odd\x00prefix").meta)
