"""The `stepmetrics up` command line and its ready line."""

from __future__ import annotations

import pytest

from stepmetrics.cli.up import parse_args, ready_line
from stepmetrics.stack.state import StackState


def test_up_options() -> None:
    args = parse_args(["--data-dir", "d", "--kafka-port", "19092", "--api-port", "18080"])
    assert (args.kafka_port, args.redis_port, args.api_port) == (19092, None, 18080)
    assert str(args.data_dir) == "d"
    assert args.worker_metrics_port is None
    assert parse_args(["--worker-metrics-port", "19478"]).worker_metrics_port == 19478


@pytest.mark.parametrize("port", ["0", "65536", "http"])
def test_up_rejects_bad_ports(port: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse_args(["--redis-port", port])
    assert f"{port!r} is not a port number" in capsys.readouterr().err


def test_ready_line_format() -> None:
    state = StackState(1, "127.0.0.1:9092", "t", "t.d", "redis://127.0.0.1:1/0", None, "tok")
    assert ready_line(state) == (
        "stepmetrics ready: kafka=127.0.0.1:9092 redis=redis://127.0.0.1:1/0 token=tok"
    )
    with_api = StackState(1, "k:1", "t", "t.d", "redis://r:2/0", "http://127.0.0.1:8080", "x")
    assert ready_line(with_api).startswith("stepmetrics ready: api=http://127.0.0.1:8080 kafka=")
    metrics = "http://127.0.0.1:9478/metrics"
    both = StackState(1, "k:1", "t", "t.d", "r", "http://127.0.0.1:8080", "x", {}, metrics)
    assert ready_line(both).startswith(
        f"stepmetrics ready: api=http://127.0.0.1:8080 worker_metrics={metrics} kafka=k:1 "
    )
