"""`stepmetrics demo`: arguments, finding the stack, what it records."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from stepmetrics.cli.demo import parse_args, stack_environment
from stepmetrics.stack.demo_runs import demo_runs
from stepmetrics.stack.errors import StackError
from stepmetrics.stack.state import StackState, write_state


def test_defaults_and_limits() -> None:
    args = parse_args([])
    assert (args.steps, args.live) == (5000, 0.0)
    assert parse_args(["--steps", "50000", "--live", "30"]).steps == 50_000
    for bad in (["--steps", "0"], ["--steps", "50001"], ["--live", "-1"], ["--timeout", "0"]):
        with pytest.raises(SystemExit):
            parse_args(bad)


def test_the_environment_wins_over_the_state_file(tmp_path: Path) -> None:
    assert stack_environment({"STEPMETRICS_KAFKA_BOOTSTRAP": "k:1"}, tmp_path) == {}


def test_the_running_stack_is_found_through_its_state_file(tmp_path: Path) -> None:
    state = StackState(
        pid=os.getpid(),
        kafka="127.0.0.1:19092",
        topic="t",
        deadletter_topic="t.deadletter",
        redis="redis://127.0.0.1:16379/0",
        api="http://127.0.0.1:18080",
        token="demo-token-123456",  # noqa: S106 - a test token
    )
    write_state(tmp_path, state)
    env = stack_environment({}, tmp_path)
    assert env["STEPMETRICS_KAFKA_BOOTSTRAP"] == "127.0.0.1:19092"
    assert env["STEPMETRICS_API_URL"] == "http://127.0.0.1:18080"
    assert env["STEPMETRICS_API_TOKEN"] == "demo-token-123456"  # noqa: S105


def test_no_running_stack_says_how_to_start_one(tmp_path: Path) -> None:
    with pytest.raises(StackError, match="stepmetrics up"):
        stack_environment({}, tmp_path)


def test_the_runs_are_the_documented_examples_and_a_training_run() -> None:
    metrics, lists, training = demo_runs(5000)
    assert metrics.scalars == {"accuracy", "loss"}
    assert lists.lists == {"accuracy_list": 3, "loss_list": 4, "logx": 49}
    assert training.lists == {
        "train_loss": 5000, "learning_rate": 5000, "grad_norm": 5000, "val_loss": 50,
    }  # fmt: skip
    assert "val_accuracy" not in demo_runs(99)[2].scalars  # no validation step yet
