"""`stepmetrics delete` asks on a terminal: no means nothing is sent."""

from __future__ import annotations

import io

import pytest

from stepmetrics.cli import delete
from stepmetrics.cli.exit_codes import EXIT_FAILED


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_no_at_the_prompt_deletes_nothing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    asked: list[str] = []
    monkeypatch.setattr("sys.stdin", Terminal())
    # No API URL or token is set: saying no must return before any of it is needed.
    monkeypatch.delenv("STEPMETRICS_API_ADMIN_TOKEN", raising=False)

    def ask(question: str) -> str:
        asked.append(question)
        return "n"

    code = delete.main(["--execution", "run-1"], ask=ask)

    assert code == EXIT_FAILED
    assert asked == ["Delete execution 'run-1' and all its metrics? [y/N] "]
    assert "nothing deleted" in capsys.readouterr().err


def test_yes_at_the_prompt_goes_on() -> None:
    assert delete.confirmed("run-1", Terminal(), lambda q: " Yes ") is True
    assert delete.confirmed("run-1", Terminal(), lambda q: "") is False
    assert delete.confirmed("run-1", io.StringIO(), lambda q: "y") is None
