"""Run our own interpreter as a child: the `stepmetrics` command, or a fresh import."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence


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
