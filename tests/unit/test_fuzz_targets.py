"""Each coverage-guided fuzz target runs briefly in `make test` (`make fuzz`
runs them for minutes): a target that breaks, or finds a crash, fails here."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TARGETS = sorted(p.stem for p in (ROOT / "tests" / "fuzz").glob("fuzz_*.py"))
REGRESSIONS = sorted((ROOT / "tests" / "fuzz" / "regressions").glob("crash-*"))
ARTIFACTS = ROOT / "test-artifacts" / "fuzz"


def _run(target: str, *args: str) -> subprocess.CompletedProcess[str]:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        [sys.executable, "-m", f"tests.fuzz.{target}", f"-artifact_prefix={ARTIFACTS}/", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )


def test_there_are_targets() -> None:
    assert {"fuzz_decoder", "fuzz_reduce"} <= set(TARGETS)


@pytest.mark.parametrize("target", TARGETS)
def test_fuzz_target_runs_clean(target: str) -> None:
    result = _run(target, "-runs=5000")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Done 5000 runs" in result.stderr


@pytest.mark.parametrize("target", TARGETS)
def test_fuzz_target_passes_every_past_crash(target: str) -> None:
    assert REGRESSIONS, "tests/fuzz/regressions holds the inputs that once failed"
    result = _run(target, *map(str, REGRESSIONS))
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stderr.count("Executed ") == len(REGRESSIONS)
