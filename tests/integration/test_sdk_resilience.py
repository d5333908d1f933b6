"""The SDK against a broker that freezes or is missing: no silent loss."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest

from stepmetrics.producers import Recorder, StepMetricsWarning, step_context
from stepmetrics.producers.sender import Sender
from stepmetrics.producers.spool import parse
from stepmetrics.sdk import CraftAiSdk
from stepmetrics.stack.services import ManagedProcess, free_port
from tests.support.processes import freeze
from tests.support.sdk import (
    events,
    list_values,
    read_envelopes,
    settings_for,
    unique,
    value_count,
)
from tests.support.services import create_topic

FREEZE_S = 10.0


async def test_frozen_broker_loses_nothing_once_it_resumes(
    broker_factory: Callable[[], ManagedProcess], unique_name: str
) -> None:
    private = broker_factory()
    topic = await create_topic(private.address, f"freeze-{unique_name}")
    recorder = Recorder(
        settings_for(private.address, topic, request_timeout_ms=2000, block_timeout=60.0)
    )
    sdk = CraftAiSdk(recorder=recorder)
    rounds = 700  # one round every 20 ms: about 14 s of emission
    stop_at: list[float] = []

    def emit() -> None:
        with step_context("exec-freeze", "p"):
            for i in range(rounds):
                sdk.record_list_metric_values("x", [float(2 * i), float(2 * i + 1)])
                assert sdk.record_metric_value(f"s{i}", float(i))
                time.sleep(0.02)
        stop_at.append(time.monotonic())

    emitter = threading.Thread(target=emit)
    emitter.start()
    await asyncio.sleep(2.0)
    freeze(private)
    try:
        await asyncio.sleep(FREEZE_S)
        frozen_stats = sdk.stats()
    finally:
        private.signal(signal.SIGCONT)
    await asyncio.to_thread(emitter.join, 60)
    assert not emitter.is_alive()
    assert frozen_stats.pending > 0  # the freeze really held values back
    assert await asyncio.to_thread(sdk.flush, 60)
    stats = sdk.stats()
    assert (stats.recorded, stats.delivered, stats.dropped, stats.failed) == (
        rounds * 3,
        rounds * 3,
        0,
        0,
    )
    envelopes = await read_envelopes(
        private.address, topic, lambda e: value_count(unique(e)) >= rounds * 3, wait_s=60
    )
    delivered = unique(envelopes)  # re-sent duplicates carry the same identity
    assert list_values(delivered, "x") == [float(v) for v in range(2 * rounds)]
    scalars = [(e[1], e[2]) for e in events(delivered) if e[0] == "s"]
    assert scalars == [(f"s{i}", float(i)) for i in range(rounds)]
    assert [e.seq for e in delivered] == list(range(len(delivered)))
    recorder.close(5)


def test_full_buffer_drops_with_a_warning_and_a_count() -> None:
    # Nothing listens on this port: nothing is ever acknowledged.
    address = f"127.0.0.1:{free_port()}"
    recorder = Recorder(settings_for(address, "t", buffer_values=5, block_timeout=0.1))
    sdk = CraftAiSdk(recorder=recorder)
    with step_context("exec-full", "p"):
        sdk.record_list_metric_values("l", [1.0, 2.0, 3.0])
        assert sdk.record_metric_value("a", 1.0)
        assert sdk.record_metric_value("b", 1.0)
        with pytest.warns(StepMetricsWarning, match="buffer full .*'c' dropped") as caught:
            assert sdk.record_metric_value("c", 1.0) is False
        assert caught[0].filename == __file__
        with pytest.warns(StepMetricsWarning, match="2 value\\(s\\) of metric 'l' dropped"):
            sdk.record_list_metric_values("l", [4.0, 5.0])
    stats = sdk.stats()
    assert (stats.recorded, stats.dropped, stats.delivered, stats.pending) == (5, 3, 0, 5)
    assert sdk.flush(0.3) is False
    started = time.monotonic()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # aiokafka's connection noise
        assert recorder.close(0.3) is False
    assert time.monotonic() - started < 10


def test_exit_flush_warns_with_the_number_of_undelivered_values(tmp_path: Path) -> None:
    script = tmp_path / "step.py"
    script.write_text(
        textwrap.dedent(
            """
            from stepmetrics.sdk import CraftAiSdk
            sdk = CraftAiSdk()
            sdk.record_metric_value("a", 1.0)
            sdk.record_list_metric_values("b", [1.0, 2.0])
            print("recorded")
            """
        )
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("STEPMETRICS_")}
    env.update(
        STEPMETRICS_KAFKA_BOOTSTRAP=f"127.0.0.1:{free_port()}",
        STEPMETRICS_EXECUTION_ID="exec-exit",
        STEPMETRICS_PIPELINE_NAME="p",
        STEPMETRICS_FLUSH_TIMEOUT="1",
    )
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0
    assert result.stdout == "recorded\n"
    assert (
        "3 metric value(s) could not be delivered within STEPMETRICS_FLUSH_TIMEOUT=1.0s"
        in result.stderr
    )
    spool = tmp_path / "xdg-cache" / "stepmetrics" / "spool"  # the user's cache dir
    assert f"spooled in {spool}: send them with `stepmetrics sync`" in result.stderr
    [spooled] = spool.glob("*.spool")
    assert len(parse(spooled.read_bytes()).records) == 1
    assert time.monotonic() - started < 20


async def test_a_crashed_sender_is_replaced_and_nothing_recorded_is_lost(
    broker: ManagedProcess, topic: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = Sender._round
    crashed = threading.Event()

    async def crash_once(self: Sender) -> None:
        if not crashed.is_set():
            crashed.set()
            raise RuntimeError("simulated bug in the sender")
        await original(self)

    monkeypatch.setattr(Sender, "_round", crash_once)
    recorder = Recorder(settings_for(broker.address, topic))
    sdk = CraftAiSdk(recorder=recorder)
    with step_context("exec-crash", "p"):
        assert sdk.record_metric_value("before", 1.0)
        assert crashed.wait(10)
        deadline = time.monotonic() + 10
        while recorder._sender is not None:  # the dead sender has said it exited
            assert time.monotonic() < deadline, "the crashed sender never exited"
            await asyncio.sleep(0.01)
        assert sdk.record_metric_value("after", 2.0)
    assert recorder.flush(30)
    got = await read_envelopes(broker.address, topic, lambda e: value_count(unique(e)) >= 2)
    assert [event[:2] for event in events(unique(got))] == [("s", "before"), ("s", "after")]
    assert recorder.stats().failed == 0
    recorder.close()
