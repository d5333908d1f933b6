"""CPU seconds of live processes, read from `/proc/<pid>/stat` (Linux)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Final

# Fields 14 and 15 of /proc/<pid>/stat (utime, stime), counted after the
# command name, which is in parentheses and may itself hold spaces.
_UTIME: Final = 11
_STIME: Final = 12


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds `pid` has used so far."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat.rsplit(")", 1)[1].split()
    ticks = int(fields[_UTIME]) + int(fields[_STIME])
    return ticks / os.sysconf("SC_CLK_TCK")


def cpu_snapshot(pids: Mapping[str, int]) -> dict[str, float]:
    """CPU seconds of each named process."""
    return {name: cpu_seconds(pid) for name, pid in pids.items()}


def cpu_used(before: Mapping[str, float], after: Mapping[str, float]) -> dict[str, float]:
    """CPU seconds each named process used between two snapshots."""
    return {name: after[name] - before[name] for name in before}
