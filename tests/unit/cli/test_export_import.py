"""`stepmetrics export` / `import`: usage and settings are refused before any I/O."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from stepmetrics.cli import export, import_
from stepmetrics.cli.exit_codes import EXIT_FAILED, EXIT_USAGE


def test_export_needs_exactly_one_selection(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        export.main([])
    assert exited.value.code == EXIT_USAGE
    with pytest.raises(SystemExit):
        export.main(["--execution", "e", "--pipeline", "p"])
    assert "not allowed with argument" in capsys.readouterr().err


def test_export_refuses_bad_settings_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("STEPMETRICS_BATCH_MAX_EVENTS", "0")
    assert export.main(["--execution", "e"]) == EXIT_USAGE
    assert "STEPMETRICS_BATCH_MAX_EVENTS=0 is not allowed: 1..50000" in capsys.readouterr().err


def test_import_reads_a_file_not_stdin(capsys: pytest.CaptureFixture[str]) -> None:
    assert import_.main(["-"]) == EXIT_USAGE
    assert "it is read twice" in capsys.readouterr().err


def test_import_of_a_missing_file_fails_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert import_.main([str(tmp_path / "nope.jsonl")]) == EXIT_FAILED
    assert "nope.jsonl" in capsys.readouterr().err


def test_import_refuses_a_bad_file_before_connecting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # No broker answers here: a bad first pass must end before any connection.
    monkeypatch.setenv("STEPMETRICS_KAFKA_BOOTSTRAP", "127.0.0.1:1")
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b'{"v":1}\n')
    assert import_.main([str(path)]) == EXIT_FAILED
    err = capsys.readouterr().err
    assert "line 1: 'ev' must be a non-empty list of events" in err
    assert "nothing was produced" in err


@pytest.mark.parametrize(
    ("module", "foreign"),
    [
        # `import` needs only the `producer` extra; `export` only the `api` extra.
        ("stepmetrics.cli.import_", ("redis", "faust", "starlette")),
        ("stepmetrics.cli.export", ("faust", "aiokafka", "starlette")),
    ],
)
def test_each_command_loads_only_its_extra(module: str, foreign: tuple[str, ...]) -> None:
    code = f"import sys, {module}; print(sorted(m for m in {foreign!r} if m in sys.modules))"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "[]"
