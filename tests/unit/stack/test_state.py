"""The state file: 0600, never written through a symlink, refused when another user owns it."""

from __future__ import annotations

import dataclasses
import os
import secrets
from pathlib import Path

import pytest

from stepmetrics.stack.errors import StackError
from stepmetrics.stack.state import StackState, read_state, state_path, write_state

PASSWORD = "redis-pw-0123456789abcdef"  # noqa: S105


def _state() -> StackState:
    return StackState(
        pid=os.getpid(),
        kafka="127.0.0.1:9092",
        topic="t",
        deadletter_topic="t.deadletter",
        redis=f"redis://:{PASSWORD}@127.0.0.1:6379/0",
        api="http://127.0.0.1:8080",
        token="token-0123456789",  # noqa: S106
    )


def test_written_owner_only_and_read_back(tmp_path: Path) -> None:
    path = write_state(tmp_path, _state())
    assert path.stat().st_mode & 0o777 == 0o600
    assert read_state(tmp_path) == _state()
    assert [p.name for p in tmp_path.iterdir()] == ["stack.json"]  # no temp file left
    assert read_state(tmp_path).exports()["STEPMETRICS_REDIS_URL"] == _state().redis
    assert PASSWORD not in repr(_state())


def test_a_planted_symlink_is_replaced_never_written_through(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.write_text("precious")
    state_path(tmp_path).symlink_to(target)
    with pytest.raises(StackError, match="cannot read"):
        read_state(tmp_path)  # O_NOFOLLOW: a symlink is not a state file
    write_state(tmp_path, _state())
    assert target.read_text() == "precious"
    assert not state_path(tmp_path).is_symlink()


def test_the_temp_file_is_created_never_opened_through_a_symlink(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(secrets, "token_hex", lambda n: "guessed")
    target = tmp_path / "elsewhere"
    target.write_text("precious")
    (tmp_path / ".stack.json.guessed.tmp").symlink_to(target)  # planted at the temp name
    with pytest.raises(FileExistsError):
        write_state(tmp_path, _state())  # O_EXCL|O_NOFOLLOW
    assert target.read_text() == "precious"
    assert not state_path(tmp_path).exists()


def test_a_state_file_of_another_user_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_state(tmp_path, _state())
    before = state_path(tmp_path).read_bytes()
    # The file stays ours; to the code we are now someone else.
    monkeypatch.setattr(os, "getuid", lambda: os.stat(tmp_path).st_uid + 1)
    with pytest.raises(StackError, match="belongs to another user"):
        read_state(tmp_path)
    with pytest.raises(StackError, match="belongs to another user"):
        write_state(tmp_path, _state())
    assert state_path(tmp_path).read_bytes() == before


def test_the_admin_token_is_exported_when_the_stack_has_one(tmp_path: Path) -> None:
    state = dataclasses.replace(_state(), admin_token="admin-0123456789")  # noqa: S106
    write_state(tmp_path, state)
    exports = read_state(tmp_path).exports()
    assert exports["STEPMETRICS_API_ADMIN_TOKEN"] == "admin-0123456789"  # noqa: S105
    assert "STEPMETRICS_API_ADMIN_TOKEN" not in _state().exports()
    assert "admin-0123456789" not in repr(state)
