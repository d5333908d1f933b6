"""Child processes: run our own interpreter (the `stepmetrics` command, a fresh
import), or freeze a service to test what happens while it is down."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from stepmetrics.stack.services import ManagedProcess


def run_cli(
    args: Sequence[str], *, check: bool = False, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run `python -m stepmetrics.cli ARGS`; capture its stdout and stderr as text."""
    return subprocess.run(
        [sys.executable, "-m", "stepmetrics.cli", *args],
        capture_output=True,
        text=True,
        check=check,
        timeout=timeout,
    )


def loaded_after_import(module: str, candidates: Sequence[str]) -> list[str]:
    """Which of `candidates` a fresh interpreter has loaded once `module` is imported."""
    code = (
        f"import json, sys, {module}; "
        f"print(json.dumps(sorted(m for m in {tuple(candidates)!r} if m in sys.modules)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    loaded: list[str] = json.loads(result.stdout)
    return loaded


def freeze(managed: ManagedProcess, within: float = 10.0) -> None:
    """SIGSTOP `managed` and return once every thread of it is stopped.

    `kill` only queues the signal: under load a thread may still run (and
    answer a request) for a while, which would make a test of "the broker is
    down" race with its own set-up.
    """
    managed.signal(signal.SIGSTOP)
    tasks = Path(f"/proc/{managed.proc.pid}/task")
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        states = [_state(task) for task in tasks.iterdir()]
        if states and all(state in ("T", "t") for state in states):
            return
        time.sleep(0.005)
    raise AssertionError(f"{managed.name} (pid {managed.proc.pid}) did not stop within {within}s")


def _state(task: Path) -> str:
    try:
        stat = (task / "stat").read_text()
    except OSError:  # the thread ended meanwhile
        return "T"
    return stat.rsplit(")", 1)[1].split()[0]
