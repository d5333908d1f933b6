"""A bound on sign-in attempts per client address (`POST /login`).

Each address may fail `max_failures` times per `window` seconds; after that
its attempts are refused (429, `Retry-After`) until the window it started
ends, whatever they send. The table of addresses is bounded: at
`max_addresses` the address seen least recently is forgotten (counted in
`evicted`), so a flood of addresses costs bounded memory and at worst lets an
evicted address start over. A successful sign-in does not clear the failures
(an attacker holding one valid token gains nothing). Behind a reverse proxy
every client has the proxy's address: the limit is then shared.

State is per server process (one per `STEPMETRICS_API_WORKERS`).
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

MAX_FAILURES: Final = 10
WINDOW_SECONDS: Final = 60.0
MAX_ADDRESSES: Final = 10_000


@dataclass(slots=True)
class _Window:
    started: float
    failures: int


class LoginLimiter:
    """Counts failed sign-ins per address in fixed windows.

    Attributes:
        refused: attempts refused because their address was over the limit.
        evicted: addresses forgotten because the table was full.
    """

    def __init__(
        self,
        max_failures: int = MAX_FAILURES,
        window: float = WINDOW_SECONDS,
        max_addresses: int = MAX_ADDRESSES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_failures < 1 or not window > 0 or max_addresses < 1:
            raise ValueError(
                "max_failures and max_addresses must be >= 1 and window > 0; got "
                f"{max_failures}, {max_addresses}, {window}"
            )
        self.max_failures = max_failures
        self.window = window
        self.max_addresses = max_addresses
        self.refused = 0
        self.evicted = 0
        self._clock = clock
        self._table: OrderedDict[str, _Window] = OrderedDict()

    def __len__(self) -> int:
        return len(self._table)

    def retry_after(self, address: str) -> int | None:
        """Whole seconds until `address` may try again, or None if it may now
        (a refusal is counted)."""
        entry = self._current(address)
        if entry is None or entry.failures < self.max_failures:
            return None
        self.refused += 1
        return max(1, math.ceil(entry.started + self.window - self._clock()))

    def failed(self, address: str) -> None:
        """Record one failed sign-in of `address`."""
        entry = self._current(address)
        if entry is None:
            entry = self._table[address] = _Window(self._clock(), 0)
            while len(self._table) > self.max_addresses:
                self._table.popitem(last=False)
                self.evicted += 1
        entry.failures += 1

    def _current(self, address: str) -> _Window | None:
        entry = self._table.get(address)
        if entry is None:
            return None
        if self._clock() - entry.started >= self.window:
            del self._table[address]
            return None
        self._table.move_to_end(address)
        return entry
