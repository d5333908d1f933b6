"""`stepmetrics env`: valid shell exports of the running stack's state."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from stepmetrics.cli import env
from stepmetrics.stack.errors import StackError
from stepmetrics.stack.state import StackState, read_state, write_state

TRICKY_TOKEN = "a'b\"c $HOME `id` ;x"  # noqa: S105 - a test value, not a secret


def _state(token: str = TRICKY_TOKEN, pid: int | None = None) -> StackState:
    return StackState(
        pid=os.getpid() if pid is None else pid,
        kafka="127.0.0.1:9092",
        topic="stepmetrics.events",
        deadletter_topic="stepmetrics.events.deadletter",
        redis="redis://127.0.0.1:6390/0",
        api="http://127.0.0.1:8080",
        token=token,
        children={"broker": 1},
    )


def test_exports_are_valid_shell(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_state(tmp_path, _state())
    assert env.main(["--data-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert all(line.startswith("export STEPMETRICS_") for line in out.splitlines())
    # A POSIX shell evaluates them back to exactly the values, without running anything.
    script = out + 'printf "%s\\n" "$STEPMETRICS_KAFKA_BOOTSTRAP" "$STEPMETRICS_TOPIC" '
    script += '"$STEPMETRICS_API_URL" "$STEPMETRICS_API_TOKEN"'
    result = subprocess.run(
        ["sh", "-c", script], capture_output=True, text=True, check=True, env={}
    )
    assert result.stdout.splitlines() == [
        "127.0.0.1:9092",
        "stepmetrics.events",
        "http://127.0.0.1:8080",
        TRICKY_TOKEN,
    ]


def test_data_dir_from_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write_state(tmp_path, _state(token="t0k"))  # noqa: S106 - a test value
    monkeypatch.setenv("STEPMETRICS_DATA_DIR", str(tmp_path))
    assert env.main([]) == 0
    assert "export STEPMETRICS_API_TOKEN=t0k\n" in capsys.readouterr().out


def test_no_stack(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert env.main(["--data-dir", str(tmp_path)]) == 1
    assert "no running stack found" in capsys.readouterr().err


def test_stale_state_is_refused(tmp_path: Path) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    write_state(tmp_path, _state(pid=dead.pid))
    with pytest.raises(StackError, match=f"pid {dead.pid}\\) is no longer running"):
        read_state(tmp_path)


def test_state_file_is_private(tmp_path: Path) -> None:
    path = write_state(tmp_path, _state())
    assert path.stat().st_mode & 0o777 == 0o600
    assert read_state(tmp_path) == _state()
    assert TRICKY_TOKEN not in repr(_state())
