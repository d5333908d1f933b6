"""Test helpers: run the real worker as a subprocess, produce envelopes, wait."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from stepmetrics.processors.ready import WORKER_READY
from stepmetrics.producers.events import Envelope, WireEvent, encode_envelope
from tests.support.redis_targets import RedisTarget

T = 1_764_150_000_000_000
REPO = Path(__file__).resolve().parents[2]
READY = WORKER_READY.encode()
Hostile = tuple[bytes | None, bytes | None, str]  # key, value, reason fragment


def worker_env(
    bootstrap: str, topic: str, redis: RedisTarget, prefix: str, group: str
) -> dict[str, str]:
    """Environment for a worker with short timeouts for the local broker."""
    return {
        **os.environ,
        "STEPMETRICS_KAFKA_BOOTSTRAP": bootstrap,
        "STEPMETRICS_TOPIC": topic,
        **redis.env(),
        "STEPMETRICS_REDIS_PREFIX": prefix,
        "STEPMETRICS_WORKER_GROUP": group,
        "STEPMETRICS_KAFKA_SESSION_TIMEOUT": "4",
        "STEPMETRICS_KAFKA_HEARTBEAT_INTERVAL": "1",
        "STEPMETRICS_WORKER_STATS_INTERVAL": "1",
        "STEPMETRICS_WORKER_MAX_BACKOFF": "0.5",
        "STEPMETRICS_WORKER_BATCH_SIZE": "20",
        # Off unless a test asks for it: parallel workers would fight over one port.
        "STEPMETRICS_WORKER_METRICS_PORT": "0",
        "STEPMETRICS_WORKER_DATADIR": str(Path(os.environ.get("TMPDIR", "/tmp")) / group),
    }


def run_worker(env: dict[str, str], within: float = 60.0) -> subprocess.CompletedProcess[str]:
    """`python -m stepmetrics.cli.worker` run to its exit (for start-up failures)."""
    return subprocess.run(
        [sys.executable, "-m", "stepmetrics.cli.worker"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=within,
        check=False,
    )


class WorkerProcess:
    """`python -m stepmetrics.cli.worker` with its stderr in `log_path`."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env = env
        self.log_path = log_path
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self, within: float = 30.0) -> None:
        with self.log_path.open("ab") as log:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "stepmetrics.cli.worker",
                env=self.env, cwd=REPO, stdout=asyncio.subprocess.PIPE, stderr=log,
            )  # fmt: skip
        assert self.proc.stdout is not None
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            line = await asyncio.wait_for(self.proc.stdout.readline(), deadline - time.monotonic())
            if READY in line:
                return
            if not line:
                break
        raise AssertionError(f"worker not ready; log:\n{self.log()[-3000:]}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    async def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        await self.proc.wait()

    async def ensure_dead(self) -> None:
        """Kill the process if a failed test left it running."""
        if self.proc is not None and self.proc.returncode is None:
            await self.kill()

    async def stop(self, within: float = 20.0) -> int:
        assert self.proc is not None
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
        return await asyncio.wait_for(self.proc.wait(), within)


async def produce(
    bootstrap: str, topic: str, envelopes: list[Envelope], pause: float = 0.0, chunk: int = 10
) -> None:
    """Send envelopes keyed by execution id; pause between chunks to pace a stream."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=2)
    await producer.start()
    try:
        for start in range(0, len(envelopes), chunk):
            sends = [
                await producer.send(topic, encode_envelope(env), key=env.key)
                for env in envelopes[start : start + chunk]
            ]
            await asyncio.gather(*sends)
            if pause:
                await asyncio.sleep(pause)
    finally:
        await producer.stop()


def make_envelopes(
    pid: str, executions: list[str], count: int, events_per: int, seed: int = 1
) -> list[Envelope]:
    """Envelopes mixing scalars (overlapping timestamps, so late older events
    happen) and list values, a scalar and a list sharing the name `m0`, and
    non-finite values."""
    rng = random.Random(seed)
    envelopes = []
    for seq in range(count):
        events: list[WireEvent] = []
        for _ in range(events_per):
            ts = T + seq * 1000 + rng.randrange(3000)
            if rng.random() < 0.6:
                value = rng.choice([rng.random(), rng.random(), "NaN", "Infinity", "-Infinity"])
                events.append(("s", f"m{rng.randrange(5)}", ts, value))
            else:
                values = [rng.random() for _ in range(rng.randrange(1, 20))]
                events.append(("l", rng.choice(["m0", "l1", "l2"]), ts, values))
        eid = executions[seq % len(executions)]
        envelopes.append(Envelope(pid, seq, eid, "pipe", "dep", events))
    return envelopes


async def wait_for(
    check: Callable[[], Awaitable[bool]], within: float, what: str, interval: float = 0.02
) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(interval)
    raise AssertionError(f"timed out after {within}s waiting for {what}")


async def consume_all(bootstrap: str, topic: str, expected: int) -> list[Any]:
    """Every record of `topic` from the start: `expected` of them, and no more."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None
    )
    await consumer.start()
    records: list[Any] = []
    try:
        async with asyncio.timeout(30):
            while len(records) < expected:
                batch = await consumer.getmany(timeout_ms=500)
                records += [r for part in batch.values() for r in part]
        assert not (await consumer.getmany(timeout_ms=300))  # nothing more
    finally:
        await consumer.stop()
    return records


async def produce_interleaved(
    bootstrap: str, topic: str, good: list[Envelope], hostile: list[Hostile], every: int = 3
) -> dict[tuple[int, int], Hostile]:
    """Send good envelopes, a hostile message after every `every`-th; say where each went."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, max_request_size=4_000_000)
    await producer.start()
    sources: dict[tuple[int, int], Hostile] = {}
    pending = list(hostile)
    try:
        for i, envelope in enumerate(good):
            await producer.send_and_wait(topic, encode_envelope(envelope), key=envelope.key)
            if i % every == every // 2 and pending:
                key, value, reason = pending.pop(0)
                meta = await producer.send_and_wait(topic, value, key=key)
                sources[(meta.partition, meta.offset)] = (key, value, reason)
    finally:
        await producer.stop()
    assert not pending
    return sources


def letter_source(letter: Any) -> tuple[int, int]:
    """(partition, offset) of the message a dead letter comes from."""
    headers = dict(letter.headers)
    return (
        int(headers["stepmetrics-source-partition"]),
        int(headers["stepmetrics-source-offset"]),
    )
