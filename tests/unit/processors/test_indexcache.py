"""The writer's index cache: validity, bounds and counts (no Redis)."""

from __future__ import annotations

import pytest

from stepmetrics.processors.writes.indexcache import IndexCache, IndexEntry, Written


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def written(
    keys: list[str],
    *,
    incarnation: int | None = 7,
    base: IndexEntry | None = None,
    updated: int | None = None,
) -> Written:
    return Written(incarnation, 100, base, keys, updated)


def test_a_recorded_entry_is_found_for_the_same_incarnation_and_created_us() -> None:
    cache = IndexCache()
    assert cache.lookup("e1", 7, 100) is None
    cache.record("e1", written(["a", "b"], updated=5))
    entry = cache.lookup("e1", 7, 100)
    assert entry is not None
    assert entry.keys == {"a", "b"}
    assert entry.updated_us == 5
    assert (cache.size, cache.keys, cache.hits, cache.misses) == (1, 2, 1, 1)


@pytest.mark.parametrize(("incarnation", "created"), [(8, 100), (7, 99), (None, 100)])
def test_another_incarnation_or_created_us_misses(incarnation: int | None, created: int) -> None:
    cache = IndexCache()
    cache.record("e1", written(["a"]))
    assert cache.lookup("e1", incarnation, created) is None


def test_a_miss_rebuilds_the_entry_with_only_the_new_writes() -> None:
    cache = IndexCache()
    cache.record("e1", written(["a", "b"]))
    assert cache.lookup("e1", 8, 100) is None
    cache.record("e1", written(["a"], incarnation=8, base=None))
    entry = cache.lookup("e1", 8, 100)
    assert entry is not None
    assert entry.keys == {"a"}
    assert cache.keys == 1


def test_a_hit_extends_the_entry_it_came_from() -> None:
    cache = IndexCache()
    cache.record("e1", written(["a"]))
    base = cache.lookup("e1", 7, 100)
    cache.record("e1", written(["c"], base=base))
    entry = cache.lookup("e1", 7, 100)
    assert entry is not None
    assert entry.keys == {"a", "c"}
    assert cache.keys == 2


def test_entries_expire_after_max_age() -> None:
    clock = Clock()
    cache = IndexCache(max_age_s=10.0, clock=clock)
    cache.record("e1", written(["a"]))
    clock.now += 9.9
    assert cache.lookup("e1", 7, 100) is not None
    clock.now += 0.2
    assert cache.lookup("e1", 7, 100) is None


def test_no_incarnation_is_never_kept() -> None:
    cache = IndexCache()
    cache.record("e1", written(["a"], incarnation=None))
    assert cache.size == 0
    assert cache.lookup("e1", None, 100) is None


def test_least_recently_used_executions_go_first() -> None:
    cache = IndexCache(max_executions=2)
    cache.record("e1", written(["a"]))
    cache.record("e2", written(["a"]))
    assert cache.lookup("e1", 7, 100) is not None  # e1 is now the most recent
    cache.record("e3", written(["a"]))
    assert cache.lookup("e2", 7, 100) is None
    assert cache.lookup("e1", 7, 100) is not None
    assert (cache.size, cache.evictions) == (2, 1)


def test_the_key_budget_bounds_all_entries_together() -> None:
    cache = IndexCache(max_keys=5)
    cache.record("e1", written(["a", "b", "c"]))
    cache.record("e2", written(["a", "b", "c"]))
    assert (cache.size, cache.keys, cache.evictions) == (1, 3, 1)
    assert cache.lookup("e1", 7, 100) is None
    cache.record("e3", written([str(i) for i in range(6)]))  # alone over the budget
    assert (cache.size, cache.keys) == (0, 0)


def test_zero_executions_keeps_nothing() -> None:
    cache = IndexCache(max_executions=0)
    cache.record("e1", written(["a"]))
    assert (cache.size, cache.keys) == (0, 0)


def test_forget_and_clear_drop_entries_and_their_keys() -> None:
    cache = IndexCache()
    cache.record("e1", written(["a", "b"]))
    cache.record("e2", written(["a"]))
    cache.forget("e1")
    assert (cache.size, cache.keys) == (1, 1)
    cache.forget("unknown")
    cache.clear()
    assert (cache.size, cache.keys) == (0, 0)


def test_updated_is_due_when_unknown_or_moved_a_step() -> None:
    cache = IndexCache(updated_step_us=60)
    assert cache.updated_due(None, 5)
    cache.record("e1", written(["a"]))
    entry = cache.lookup("e1", 7, 100)
    assert entry is not None
    assert cache.updated_due(entry, 5)  # never written by this worker
    cache.record("e1", written([], base=entry, updated=100))
    assert not cache.updated_due(entry, 159)
    assert cache.updated_due(entry, 160)


def test_by_default_updated_is_due_whenever_it_moves_forward() -> None:
    cache = IndexCache()
    cache.record("e1", written(["a"], updated=100))
    entry = cache.lookup("e1", 7, 100)
    assert entry is not None
    assert not cache.updated_due(entry, 100)  # a replay
    assert not cache.updated_due(entry, 99)
    assert cache.updated_due(entry, 101)


@pytest.mark.parametrize(
    "kwargs",
    [{"max_executions": -1}, {"max_keys": 1.5}, {"max_age_s": 0.0}, {"updated_step_us": -1}],
)
def test_bad_bounds_are_refused_naming_the_value(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="not allowed"):
        IndexCache(**kwargs)  # type: ignore[arg-type]
