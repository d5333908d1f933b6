"""Delivery through the real broker: threads, forks, asyncio, limits, bad input."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import threading
import warnings

import pytest

from stepmetrics.producers import Recorder, StepMetricsWarning, step_context
from stepmetrics.producers.errors import InvalidMetricError, InvalidMetricTypeError
from stepmetrics.producers.events import MAX_ENVELOPE_BYTES, MAX_LIST_VALUES
from stepmetrics.sdk import CraftAiSdk
from stepmetrics.stack.services import ManagedProcess
from tests.support.sdk import (
    events,
    list_values,
    read_envelopes,
    read_envelopes_sync,
    settings_for,
    unique,
    value_count,
)


async def test_bad_input_raises_before_anything_is_queued(
    broker: ManagedProcess, topic: str
) -> None:
    recorder = Recorder(settings_for(broker.address, topic))
    sdk = CraftAiSdk(recorder=recorder)
    with step_context("exec-bad", "p"):
        with pytest.raises(InvalidMetricTypeError, match="'loss_list': value True at index 2"):
            sdk.record_list_metric_values("loss_list", [1.0, 2.0, True, 4.0])
        with pytest.raises(InvalidMetricTypeError, match="'acc': value None"):
            sdk.record_metric_value("acc", None)  # type: ignore[arg-type]
        with pytest.raises(InvalidMetricError, match="must not be empty"):
            sdk.record_metric_value("", 1.0)
        with pytest.raises(InvalidMetricTypeError, match=r"\[2\.0\] at index 1"):
            sdk.record_list_metric_values("nested", [1.0, [2.0]])
        assert sdk.stats().recorded == 0
        assert recorder._sender is None  # nothing queued, nothing started
        assert sdk.record_metric_value("sentinel", 2.0)
    assert recorder.close(30)
    envelopes = await read_envelopes(broker.address, topic, lambda envs: bool(envs))
    assert events(envelopes) == [("s", "sentinel", 2.0)]


async def test_recording_inside_a_running_event_loop(broker: ManagedProcess, topic: str) -> None:
    recorder = Recorder(settings_for(broker.address, topic))
    sdk = CraftAiSdk(recorder=recorder)

    async def step(i: int) -> None:
        with step_context(f"exec-async-{i}", "p"):
            await asyncio.sleep(0)
            assert sdk.record_metric_value("acc", float(i))
            sdk.record_list_metric_values("curve", [float(i)] * 3)

    await asyncio.gather(*(step(i) for i in range(5)))
    assert await asyncio.to_thread(sdk.flush, 30)
    envelopes = await read_envelopes(broker.address, topic, lambda e: value_count(e) >= 20)
    by_exec = {e.execution_id: events([e]) for e in unique(envelopes)}
    assert by_exec == {
        f"exec-async-{i}": [("s", "acc", float(i)), ("l", "curve", [float(i)] * 3)]
        for i in range(5)
    }
    recorder.close(5)


def test_many_threads_deliver_everything(broker: ManagedProcess, topic: str) -> None:
    recorder = Recorder(settings_for(broker.address, topic))
    sdk = CraftAiSdk(recorder=recorder)
    threads, calls = 8, 400

    def work(t: int) -> None:
        with step_context("exec-threads", "p"):
            for i in range(calls):
                assert sdk.record_metric_value(f"t{t}-m{i}", float(i))
                sdk.record_list_metric_values("shared", [t * 1e6 + i, t * 1e6 + i + 0.5])

    pool = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    assert sdk.flush(60)
    stats = sdk.stats()
    assert (stats.recorded, stats.delivered, stats.pending) == (threads * calls * 3,) * 2 + (0,)
    envelopes = read_envelopes_sync(
        broker.address, topic, lambda e: value_count(e) >= threads * calls * 3
    )
    delivered = unique(envelopes)
    scalars = sorted((e[1], e[2]) for e in events(delivered) if e[0] == "s")
    assert scalars == sorted((f"t{t}-m{i}", float(i)) for t in range(threads) for i in range(calls))
    shared = list_values(delivered, "shared")
    assert sorted(shared) == sorted(
        v for t in range(threads) for i in range(calls) for v in (t * 1e6 + i, t * 1e6 + i + 0.5)
    )
    for t in range(threads):  # each thread's values stay in its record order
        mine = [v for v in shared if t * 1e6 <= v < (t + 1) * 1e6]
        assert mine == sorted(mine)
    recorder.close(5)


def _mp_child(bootstrap: str, topic: str) -> None:
    # Uses the parent's recorder object; no flush: the exit hook delivers.
    sdk = CraftAiSdk(recorder=_SHARED[0])
    with step_context("exec-fork", "p"):
        sdk.record_list_metric_values("values", [float(v) for v in range(1000, 1100)])
        sdk.record_metric_value("mp-child", 1.0)


_SHARED: list[Recorder] = []


def test_forked_children_get_their_own_sender(broker: ManagedProcess, topic: str) -> None:
    recorder = Recorder(settings_for(broker.address, topic))
    _SHARED[:] = [recorder]
    sdk = CraftAiSdk(recorder=recorder)
    with step_context("exec-fork", "p"):
        sdk.record_list_metric_values("values", [float(v) for v in range(100)])
        assert sdk.flush(30)
        children = []
        for k in range(3):
            with warnings.catch_warnings():
                # Python >= 3.12 warns that forking a threaded process is risky;
                # exactly what users (DataLoader workers) do and what we test.
                warnings.simplefilter("ignore", DeprecationWarning)
                pid = os.fork()
            if pid == 0:  # the child: record, flush, leave without pytest's teardown
                ok = False
                try:
                    values = [float(v) for v in range(100 * (k + 2), 100 * (k + 3))]
                    sdk.record_list_metric_values("values", values)
                    ok = sdk.flush(30) and sdk.stats().recorded == 100
                finally:
                    os._exit(0 if ok else 1)
            children.append(pid)
        process = multiprocessing.get_context("fork").Process(
            target=_mp_child, args=(broker.address, topic)
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            process.start()
        sdk.record_list_metric_values("values", [float(v) for v in range(100, 200)])
        for pid in children:
            assert os.waitpid(pid, 0)[1] == 0
        process.join(60)
        assert process.exitcode == 0
        assert sdk.flush(30)
    assert sdk.stats().recorded == 200  # the children counted their own
    expected = [float(v) for v in range(500)] + [float(v) for v in range(1000, 1100)]
    envelopes = read_envelopes_sync(
        broker.address, topic, lambda e: len(list_values(e, "values")) >= len(expected)
    )
    delivered = unique(envelopes)
    assert sorted(list_values(delivered, "values")) == sorted(expected)
    assert ("s", "mp-child", 1.0) in events(delivered)
    producers = {e.producer_id for e in delivered}
    assert len(producers) == 5  # the parent, three forks, one multiprocessing child
    recorder.close(5)


def big(v: int) -> float:
    return -(v + 0.1) / 7e10


async def test_list_limit_warns_once_and_sends_50000(broker: ManagedProcess, topic: str) -> None:
    recorder = Recorder(settings_for(broker.address, topic))
    sdk = CraftAiSdk(recorder=recorder)
    with step_context("exec-limit", "p"):
        # Each value prints as ~23 characters: a full list is over 1 MB of JSON.
        sdk.record_list_metric_values("big", [big(v) for v in range(30_000)])
        with pytest.warns(StepMetricsWarning, match="reached 50,000 values") as caught:
            sdk.record_list_metric_values("big", [big(v) for v in range(30_000, 60_000)])
        assert caught[0].filename == __file__
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            sdk.record_list_metric_values("big", [1.0, 2.0])  # silently not sent
            sdk.record_list_metric_values("other", [1.0])  # other lists are unaffected
        assert sdk.flush(30)
    stats = sdk.stats()
    assert (stats.recorded, stats.over_limit, stats.delivered) == (50_001, 10_002, 50_001)
    envelopes = await read_envelopes(
        broker.address, topic, lambda e: value_count(e) >= MAX_LIST_VALUES + 1
    )
    assert list_values(unique(envelopes), "big") == [big(v) for v in range(MAX_LIST_VALUES)]
    assert len(envelopes) >= 2  # a full list does not fit one message
    recorder.close(5)


def test_envelopes_stay_under_the_message_limit(broker: ManagedProcess, topic: str) -> None:
    recorder = Recorder(settings_for(broker.address, topic, compression="none"))
    sdk = CraftAiSdk(recorder=recorder)
    worst = [-2.2250738585072014e-308] * 40_000
    with step_context("exec-size", "p"):
        sdk.record_list_metric_values("worst", worst)
        assert sdk.flush(30)
    raw_sizes: list[int] = []

    async def read_raw() -> None:
        from aiokafka import AIOKafkaConsumer

        consumer = AIOKafkaConsumer(
            topic, bootstrap_servers=broker.address, auto_offset_reset="earliest", group_id=None
        )
        await consumer.start()
        try:
            while sum(raw_sizes) < 900_000:
                batch = await consumer.getmany(timeout_ms=1000)
                raw_sizes.extend(len(r.value) for rs in batch.values() for r in rs)
        finally:
            await consumer.stop()

    asyncio.run(asyncio.wait_for(read_raw(), 30))
    assert len(raw_sizes) >= 2
    assert max(raw_sizes) <= MAX_ENVELOPE_BYTES
    recorder.close(5)


async def test_recording_after_close_uses_a_new_identity(
    broker: ManagedProcess, topic: str
) -> None:
    recorder = Recorder(settings_for(broker.address, topic))
    sdk = CraftAiSdk(recorder=recorder)
    assert sdk.flush(0)  # nothing recorded yet
    with step_context("exec-reopen", "p"):
        sdk.record_metric_value("first", 1.0)
        assert await asyncio.to_thread(recorder.close, 30)
        first_id = recorder.producer_id
        sdk.record_metric_value("second", 2.0)
        assert await asyncio.to_thread(sdk.flush, 30)
    assert recorder.producer_id != first_id
    envelopes = await read_envelopes(broker.address, topic, lambda e: len(e) >= 2)
    assert [(e.identity, events([e])) for e in envelopes] == [
        (f"{first_id}:0", [("s", "first", 1.0)]),
        (f"{recorder.producer_id}:0", [("s", "second", 2.0)]),
    ]
    recorder.close(5)
