"""The `stepmetrics` dispatcher: commands, usage errors, missing extras."""

from __future__ import annotations

from pathlib import Path

import pytest

from stepmetrics import cli
from tests.support.processes import run_cli


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    for name, command in cli.COMMANDS.items():
        assert f"  {name} " in out
        assert command.summary in out


def test_no_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([]) == cli.EXIT_USAGE
    assert "usage: stepmetrics <command>" in capsys.readouterr().err


def test_unknown_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["bogus", "--x"]) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert "unknown command 'bogus'" in err
    assert "up, env, worker, api, get, demo" in err


def test_missing_module_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(
        cli.COMMANDS, "api", cli.Command("stepmetrics.nowhere.server", "api", "the API")
    )
    assert cli.main(["api"]) == cli.EXIT_NOT_INSTALLED
    err = capsys.readouterr().err
    assert "`stepmetrics api` is not installed" in err
    assert "stepmetrics.nowhere.server is not part of this installation" in err
    assert "pip install 'stepmetrics[api]'" in err


def test_missing_dependency_names_the_library(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # A command module that exists but imports a library that is not installed.
    (tmp_path / "stepmetrics_fake_cmd.py").write_text("import stepmetrics_missing_lib\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(
        cli.COMMANDS, "worker", cli.Command("stepmetrics_fake_cmd", "processor", "w")
    )
    with pytest.raises(
        ImportError,
        match=r"library 'stepmetrics_missing_lib' it needs is missing; "
        r"install it with: pip install 'stepmetrics\[processor\]'",
    ):
        cli.load("worker")


def test_get_needs_only_the_base_install() -> None:
    assert cli.COMMANDS["get"].requirement == "stepmetrics"


def test_dispatches_to_the_command_main(capsys: pytest.CaptureFixture[str]) -> None:
    # `env --help` exits through argparse after printing the command's own help.
    with pytest.raises(SystemExit) as info:
        cli.main(["env", "--help"])
    assert info.value.code == 0
    assert "stepmetrics env" in capsys.readouterr().out


def test_runnable_as_module() -> None:
    result = run_cli(["--help"], timeout=30)
    assert result.returncode == 0
    assert "usage: stepmetrics <command>" in result.stdout
