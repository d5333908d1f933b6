"""Each coverage-guided fuzz target runs briefly in `make test` (`make fuzz`
runs them for minutes): a target that breaks, or finds a crash, fails here."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TARGETS = sorted(p.stem for p in (ROOT / "tests" / "fuzz").glob("fuzz_*.py"))


def test_there_are_targets() -> None:
    assert {"fuzz_decoder", "fuzz_reduce"} <= set(TARGETS)


@pytest.mark.parametrize("target", TARGETS)
def test_fuzz_target_runs_clean(target: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", f"tests.fuzz.{target}", "-runs=5000"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Done 5000 runs" in result.stderr
