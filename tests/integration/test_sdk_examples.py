"""The documented step examples, run unchanged but for the import line."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from stepmetrics.producers import Recorder, step_context
from stepmetrics.sdk import CraftAiSdk
from stepmetrics.stack.services import ManagedProcess
from tests.support.documented import LIST_EXAMPLE, SCALAR_EXAMPLE
from tests.support.sdk import events, read_envelopes, settings_for, unique

# Both documented examples in one step; only the import line differs.
DOCUMENTED_STEP = SCALAR_EXAMPLE + LIST_EXAMPLE


def run_step(tmp_path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "step.py"
    script.write_text(DOCUMENTED_STEP)
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("STEPMETRICS_")}
    full_env.update(env)
    return subprocess.run(
        [sys.executable, str(script)],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_documented_examples_produce_exactly_the_expected_events(
    broker: ManagedProcess, topic: str, tmp_path: Path, host: str
) -> None:
    # With a host name, the exit flush must resolve it during interpreter
    # shutdown, when asyncio can no longer start its resolver threads.
    port = broker.address.rsplit(":", 1)[1]
    result = run_step(
        tmp_path,
        {
            "STEPMETRICS_KAFKA_BOOTSTRAP": f"{host}:{port}",
            "STEPMETRICS_TOPIC": topic,
            "STEPMETRICS_EXECUTION_ID": "exec-doc-1",
            "STEPMETRICS_PIPELINE_NAME": "doc-pipeline",
            "STEPMETRICS_DEPLOYMENT_NAME": "doc-deployment",
        },
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["Metrics are sent", "List metrics are sent"]
    assert result.stderr == ""
    expected = [
        ("s", "accuracy", 0.1409),
        ("s", "loss", 1 / 3),
        ("l", "accuracy_list", [0.89, 0.92, 0.95]),
        ("l", "loss_list", [1.4, 1.2]),
        ("l", "loss_list", [1.1, 1.0]),
    ] + [("l", "logx", [math.log(i)]) for i in range(1, 50)]

    # The process has exited: its exit flush delivered everything.
    envelopes = await read_envelopes(
        broker.address, topic, lambda envs: len(events(envs)) >= len(expected)
    )
    assert len({e.identity for e in envelopes}) == len(envelopes)  # no re-sends needed
    delivered = unique(envelopes)
    assert events(delivered) == expected
    assert {(e.execution_id, e.pipeline_name, e.deployment_name) for e in delivered} == {
        ("exec-doc-1", "doc-pipeline", "doc-deployment")
    }
    assert [e.seq for e in delivered] == list(range(len(delivered)))
    stamps = [ev[2] for env in delivered for ev in env.events]
    assert stamps == sorted(stamps)


async def test_documented_examples_outside_a_step_warn_and_send_nothing(
    broker: ManagedProcess, topic: str, tmp_path: Path
) -> None:
    result = run_step(
        tmp_path, {"STEPMETRICS_KAFKA_BOOTSTRAP": broker.address, "STEPMETRICS_TOPIC": topic}
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["Metrics are sent", "List metrics are sent"]
    # Each warning names the step's own file and the line of the call (the
    # default filter shows the loop's warning once).
    script = tmp_path / "step.py"
    call_lines = [
        n for n, line in enumerate(DOCUMENTED_STEP.splitlines(), start=1) if "sdk.record_" in line
    ]
    warned = [
        line.split(": StepMetricsWarning")[0]
        for line in result.stderr.splitlines()
        if ": StepMetricsWarning: metric " in line and "has not been sent" in line
    ]
    assert warned == [f"{script}:{n}" for n in call_lines]

    # Nothing reached the topic: only the sentinel sent afterwards is there.
    recorder = Recorder(settings_for(broker.address, topic))
    with step_context("sentinel", "p"):
        assert CraftAiSdk(recorder=recorder).record_metric_value("sentinel", 1.0)
    assert recorder.close(30)
    envelopes = await read_envelopes(broker.address, topic, lambda envs: bool(envs))
    assert events(envelopes) == [("s", "sentinel", 1.0)]
