"""The rate limit for repetitive log lines."""

from __future__ import annotations

from stepmetrics.processors.ratelimit import RateLimiter


def test_rate_limiter_counts_what_it_suppressed() -> None:
    limiter = RateLimiter(interval=3600)
    assert limiter.allow() == (True, 0)
    assert limiter.allow() == (False, 0)
    assert limiter.allow() == (False, 0)
    limiter._next = 0.0
    assert limiter.allow() == (True, 2)
