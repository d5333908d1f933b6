"""A rate limit for repetitive log lines that still says how many it hid."""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass(slots=True)
class RateLimiter:
    """Allows one event per `interval` seconds and counts the suppressed ones."""

    interval: float
    _next: float = 0.0
    _suppressed: int = 0

    def allow(self) -> tuple[bool, int]:
        """(True, suppressed since the last allowed one) or (False, 0)."""
        now = time.monotonic()
        if now < self._next:
            self._suppressed += 1
            return False, 0
        suppressed, self._suppressed = self._suppressed, 0
        self._next = now + self.interval
        return True, suppressed
