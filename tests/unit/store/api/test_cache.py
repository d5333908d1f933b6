"""The reader API's bounded LRU of rendered answers."""

from __future__ import annotations

import pytest

from stepmetrics.store.api.cache import ResponseCache


def test_an_entry_is_served_only_at_its_version() -> None:
    cache = ResponseCache()
    key = ("/api/v1/metrics", b"execution_id=e")
    assert cache.get(key, b"1") is None
    cache.put(key, b"1", b"body-1")
    assert cache.get(key, b"1") == b"body-1"
    assert cache.get(key, b"2") is None
    cache.put(key, b"2", b"body-two")
    assert cache.get(key, b"1") is None
    assert cache.get(key, b"2") == b"body-two"
    assert (len(cache), cache.size, cache.hits, cache.misses) == (1, 8, 2, 3)


def test_least_recently_used_entries_go_first() -> None:
    cache = ResponseCache(max_bytes=100, max_entries=2)
    a, b, c = (("/p", q) for q in (b"a", b"b", b"c"))
    cache.put(a, b"1", b"A")
    cache.put(b, b"1", b"B")
    assert cache.get(a, b"1") == b"A"  # a is now the most recent
    cache.put(c, b"1", b"C")
    assert cache.get(b, b"1") is None
    assert (cache.get(a, b"1"), cache.get(c, b"1")) == (b"A", b"C")


def test_the_byte_budget_holds_and_huge_bodies_are_not_kept() -> None:
    cache = ResponseCache(max_bytes=100, max_entries=100)
    for i in range(10):
        cache.put(("/p", str(i).encode()), b"1", b"x" * 20)
    assert (len(cache), cache.size) == (5, 100)
    assert cache.get(("/p", b"9"), b"1") is not None
    assert cache.get(("/p", b"4"), b"1") is None
    cache.put(("/p", b"9"), b"2", b"y" * 26)  # over a quarter: dropped, old one too
    assert cache.get(("/p", b"9"), b"1") is None
    assert (len(cache), cache.size) == (4, 80)


def test_bounds_must_be_positive() -> None:
    with pytest.raises(ValueError, match="got 0 and 5"):
        ResponseCache(max_bytes=0, max_entries=5)
