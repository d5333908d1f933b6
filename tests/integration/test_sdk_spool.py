"""The spool against the real broker and worker: nothing recorded is lost, nothing
is applied twice (issue 13)."""

from __future__ import annotations

import asyncio
import random
import shutil
import signal
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from stepmetrics.producers import Recorder, step_context
from stepmetrics.producers.events import decode_envelope
from stepmetrics.producers.spool import SUFFIX, encode_header, parse
from stepmetrics.stack.services import ManagedProcess, free_port
from stepmetrics.store.keys import RedisKeys
from stepmetrics.store.stats import read_stats
from tests.support.metrics_state import expected_state, snapshot
from tests.support.processes import freeze
from tests.support.sdk import read_envelopes, settings_for, unique, value_count
from tests.support.services import create_topic
from tests.support.spool import (
    EXECUTION,
    Rig,
    expected,
    run_sync,
    start_step,
    step_env,
)
from tests.support.worker import wait_for

HALF = 200
LINGER_MS = 50
RECORD = """
from stepmetrics.sdk import CraftAiSdk
sdk = CraftAiSdk()
def record(lo, hi):
    for i in range(lo, hi):
        sdk.record_metric_value(f"s{i}", float(i))
        sdk.record_list_metric_values("l", [float(i)])
"""


def _script(tmp_path: Path, body: str) -> Path:
    script = tmp_path / "step.py"
    script.write_text(RECORD + textwrap.dedent(body))
    return script


def _spool_files(spool: Path) -> list[Path]:
    return sorted(spool.glob(f"*{SUFFIX}"))


@pytest.fixture
async def private_rig(
    broker_factory: Callable[[], ManagedProcess],
    unique_name: str,
    redis_server: ManagedProcess,
    redis_client: aioredis.Redis,
    redis_keys: RedisKeys,
    tmp_path: Path,
) -> Rig:
    """A broker of its own (to freeze) and a fresh topic."""
    private = broker_factory()
    topic = await create_topic(private.address, f"spool-{unique_name}")
    return Rig(private, topic, redis_server.address, redis_client, redis_keys, tmp_path)


async def test_broker_down_at_exit_then_sync_delivers_exactly_once(
    private_rig: Rig,
) -> None:
    rig, private, spool = private_rig, private_rig.broker, private_rig.spool
    env, tmp_path = rig.env(STEPMETRICS_FLUSH_TIMEOUT="1"), rig.tmp_path
    script = _script(
        tmp_path,
        f"""
        record(0, {HALF})
        assert sdk.flush(30)
        print("flushed", flush=True)
        input()
        record({HALF}, {2 * HALF})
        """,
    )
    step = start_step(script, env)
    assert step.stdout is not None
    assert step.stdin is not None
    assert step.stdout.readline() == "flushed\n"
    freeze(private)
    try:
        _out, err = step.communicate("go\n", timeout=60)
    finally:
        private.signal(signal.SIGCONT)
    assert step.returncode == 0, err
    assert f"{2 * HALF} metric value(s) could not be delivered" in err
    assert f"spooled in {spool}: send them with `stepmetrics sync`" in err
    assert len(_spool_files(spool)) == 1

    async with rig.worker():
        first = await asyncio.to_thread(run_sync, env)
        assert first.returncode == 0, first.stderr
        assert f"{2 * HALF} metric value(s) delivered" in first.stdout
        assert _spool_files(spool) == []
        assert await rig.state(2 * HALF) == expected(2 * HALF)
        before = await snapshot(rig.client, rig.keys.prefix)
        second = await asyncio.to_thread(run_sync, env)
        assert second.returncode == 0, second.stderr
        assert "0 envelope(s), 0 metric value(s) delivered" in second.stdout
        await asyncio.sleep(1.0)
        assert await snapshot(rig.client, rig.keys.prefix) == before


async def _offline_spool(tmp_path: Path, topic: str, rounds: int) -> tuple[Path, dict[str, str]]:
    """Record 2 * `rounds` values offline, one envelope per round (a flush each)."""
    spool = tmp_path / "spool"
    # Nothing listens there: offline mode must not even try. A long linger:
    # only the flushes end rounds, so each round is one envelope.
    env = step_env(
        f"127.0.0.1:{free_port()}", topic, spool,
        STEPMETRICS_MODE="offline", STEPMETRICS_LINGER_MS="1000",
    )  # fmt: skip
    script = _script(
        tmp_path,
        f"""
        for i in range({rounds}):
            record(i, i + 1)
            assert sdk.flush(5)
        assert sdk.stats().spooled == {2 * rounds}, sdk.stats()
        """,
    )
    step = start_step(script, env)
    _, err = await asyncio.to_thread(step.communicate, timeout=60)
    assert step.returncode == 0, err
    assert "stepmetrics" not in err  # no warning, no connection attempt
    return spool, env


async def test_offline_mode_then_sync_is_exact(
    rig: Rig,
) -> None:
    broker, topic, tmp_path = rig.broker, rig.topic, rig.tmp_path
    _spool, env = await _offline_spool(tmp_path, topic, 300)
    env["STEPMETRICS_KAFKA_BOOTSTRAP"] = broker.address
    async with rig.worker():
        synced = await asyncio.to_thread(run_sync, env)
        assert synced.returncode == 0, synced.stderr
        assert "300 envelope(s), 600 metric value(s) delivered" in synced.stdout
        assert "300/300 envelopes" in synced.stderr  # progress
        assert await rig.state(300) == expected(300)


async def test_concurrent_syncs_and_a_resent_spool_apply_each_envelope_once(
    rig: Rig,
) -> None:
    broker, topic, tmp_path = rig.broker, rig.topic, rig.tmp_path
    spool, env = await _offline_spool(tmp_path, topic, 200)
    copy = tmp_path / "copy"
    shutil.copytree(spool, copy)
    env["STEPMETRICS_KAFKA_BOOTSTRAP"] = broker.address
    async with rig.worker():
        both = await asyncio.gather(*(asyncio.to_thread(run_sync, env) for _ in range(2)))
        assert [r.returncode for r in both] == [0, 0], [r.stderr for r in both]
        # The lock lets one of them send the file; the other skips it.
        sent = [r for r in both if "200 envelope(s), 400 metric value(s)" in r.stdout]
        assert len(sent) == 1, [r.stdout for r in both]
        assert await rig.state(200) == expected(200)
        applied = (await read_stats(rig.client, rig.keys))["envelopes_applied"]
        assert applied == 200
        # Sending the same spool again (a sync killed before its removal):
        # the worker recognizes every envelope and changes nothing.
        before = await snapshot(rig.client, rig.keys.prefix)
        again = await asyncio.to_thread(run_sync, {**env, "STEPMETRICS_SPOOL_DIR": str(copy)})
        assert "200 envelope(s)" in again.stdout, again.stderr

        async def skipped() -> bool:
            stats = await read_stats(rig.client, rig.keys)
            return stats["duplicates_skipped"] >= 200

        await wait_for(skipped, 30, "200 duplicates skipped")
        assert await snapshot(rig.client, rig.keys.prefix) == before
        assert (await read_stats(rig.client, rig.keys))["envelopes_applied"] == 200


async def test_a_truncated_spool_file_delivers_its_intact_part_and_keeps_the_rest(
    rig: Rig,
) -> None:
    broker, topic, tmp_path = rig.broker, rig.topic, rig.tmp_path
    spool, env = await _offline_spool(tmp_path, topic, 100)
    [path] = _spool_files(spool)
    data = path.read_bytes()
    cut = random.Random(13).randrange(len(data) // 4, len(data) - 1)
    path.write_bytes(data[:cut])  # power loss mid-write
    intact = parse(data[:cut])
    assert 0 < len(intact.records) < 100
    envelopes = [decode_envelope(out.data) for out in intact.records]
    env["STEPMETRICS_KAFKA_BOOTSTRAP"] = broker.address
    async with rig.worker():
        synced = await asyncio.to_thread(run_sync, env)
        assert synced.returncode == 1  # damaged data was found
        damaged = path.with_name(path.name + ".damaged")
        assert damaged.read_bytes() == data[intact.intact_bytes : cut]
        assert f"damaged spool data ({cut - intact.intact_bytes} byte(s))" in synced.stderr
        assert str(damaged) in synced.stderr
        count = len(intact.records)
        state = await rig.state(count)
        assert state == expected_state(envelopes)[EXECUTION] == expected(count)
        assert not path.exists()


async def test_kill_9_in_durable_mode_loses_at_most_the_last_linger_interval(
    private_rig: Rig,
) -> None:
    rig, private, spool = private_rig, private_rig.broker, private_rig.spool
    env = rig.env(STEPMETRICS_DURABILITY="disk", STEPMETRICS_LINGER_MS=str(LINGER_MS))
    tmp_path = rig.tmp_path
    log = tmp_path / "recorded.txt"  # a file, not a pipe that fills up and blocks
    script = _script(
        tmp_path,
        f"""
        import time
        with open({str(log)!r}, "w", buffering=1) as log:
            for i in range(10_000_000):
                record(i, i + 1)
                log.write(f"{{i}} {{time.monotonic()}}\\n")
                time.sleep(0.001)
        """,
    )
    step = start_step(script, env)
    await asyncio.sleep(1.5)  # it runs, and delivers
    # A frozen broker acknowledges nothing: what follows is only on disk.
    freeze(private)
    try:
        await asyncio.sleep(random.uniform(0.5, 6.0))  # up to 6 s: past a reconnect
        step.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
    finally:
        private.signal(signal.SIGCONT)
    await asyncio.to_thread(step.communicate, timeout=30)
    lines = [line.split() for line in log.read_text().splitlines()]
    recorded = dict((int(i), float(t)) for i, t in (x for x in lines if len(x) == 2))
    must_have = [i for i, t in recorded.items() if t < killed_at - LINGER_MS / 1000]
    assert _spool_files(spool)
    async with rig.worker():
        synced = await asyncio.to_thread(run_sync, env)
        assert synced.returncode == 0, synced.stderr
        state = await rig.state(len(must_have))
    values = state.lists["l"]
    # Exactly once, in record order: a prefix of what was recorded.
    assert values == [float(i) for i in range(len(values))]
    assert len(values) >= len(must_have)
    # The scalar of the last round may have been spooled without its list value.
    kept = len(state.scalars)
    assert kept in (len(values), len(values) + 1)
    assert set(state.scalars) == {f"s{i}" for i in range(kept)}
    window = killed_at - recorded.get(len(values) - 1, killed_at)
    print(f"loss window: {window * 1000:.1f} ms; {len(values)} of {len(recorded)} values kept")


async def test_the_sdk_sends_earlier_spools_of_its_topic_when_it_starts(
    broker: ManagedProcess, topic: str, tmp_path: Path
) -> None:
    spool, _ = await _offline_spool(tmp_path, topic, 50)
    [earlier] = _spool_files(spool)
    other = spool / "other-topic.spool"
    other.write_bytes(encode_header(f"{topic}-other"))
    recorder = Recorder(settings_for(broker.address, topic, spool_dir=str(spool)))
    with step_context("exec-later", "p") as ctx:
        assert recorder.record_scalar(ctx, "later", 1.0)
    assert await asyncio.to_thread(recorder.flush, 30)
    got = await read_envelopes(
        broker.address, topic, lambda e: value_count(unique(e)) >= 101, wait_s=30
    )
    assert value_count(unique(got)) == 101
    deadline = time.monotonic() + 10
    while earlier.exists():  # removed once every envelope is acknowledged
        assert time.monotonic() < deadline, "the earlier spool file was not removed"
        await asyncio.sleep(0.05)
    assert other.exists()  # another topic's spool is left to `stepmetrics sync`
    assert recorder.close(10)
