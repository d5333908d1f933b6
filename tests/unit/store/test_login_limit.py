"""The sign-in limit: per address, per window, a bounded table."""

from __future__ import annotations

import pytest

from stepmetrics.store.web.login_limit import LoginLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_an_address_over_the_limit_waits_for_its_window() -> None:
    clock = Clock()
    limiter = LoginLimiter(max_failures=3, window=60, clock=clock)
    for _ in range(3):
        assert limiter.retry_after("1.2.3.4") is None
        limiter.failed("1.2.3.4")
    clock.now += 20.5
    assert limiter.retry_after("1.2.3.4") == 40
    assert limiter.retry_after("5.6.7.8") is None  # another address is not affected
    assert limiter.refused == 1
    clock.now += 40
    assert limiter.retry_after("1.2.3.4") is None  # a new window
    assert len(limiter) == 0


def test_the_table_is_bounded_and_forgets_the_least_recent() -> None:
    limiter = LoginLimiter(max_failures=1, max_addresses=2, clock=Clock())
    limiter.failed("a")
    limiter.failed("b")
    assert limiter.retry_after("a") is not None  # "a" is now the most recent
    limiter.failed("c")
    assert (len(limiter), limiter.evicted) == (2, 1)
    assert limiter.retry_after("b") is None  # forgotten
    assert limiter.retry_after("a") is not None


def test_bad_bounds_are_refused() -> None:
    with pytest.raises(ValueError, match="max_failures"):
        LoginLimiter(max_failures=0)
