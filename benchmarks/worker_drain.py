"""Worker throughput: pre-fill a topic, time the drain into Redis.

    .venv/bin/python benchmarks/worker_drain.py [--runs 3]

Starts a private broker and redis-server, fills a fresh topic per run with
envelopes of 500 events, starts `python -m stepmetrics.cli.worker` and
times from its readiness line until Redis counts every event applied. Prints
scalar events/s and list values/s per run and their medians.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import redis.asyncio as aioredis
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from stepmetrics.processors.ready import WORKER_READY
from stepmetrics.producers.events import Envelope, WireEvent, encode_envelope
from stepmetrics.stack.services import free_port, start_broker, start_redis
from stepmetrics.store.keys import RedisKeys
from stepmetrics.store.stats import read_stats

T = 1_764_150_000_000_000
EVENTS_PER_ENVELOPE = 500
EXECUTIONS = 16


def envelopes(kind: str, count: int, list_values: int) -> list[bytes]:
    out = []
    for seq in range(count):
        events: list[WireEvent] = []
        for i in range(EVENTS_PER_ENVELOPE):
            ts = T + seq * EVENTS_PER_ENVELOPE + i
            if kind == "s":
                events.append(("s", f"metric_{i % 20}", ts, i * 0.001))
            else:
                events.append(("l", f"curve_{i % 10}", ts, [i * 0.5] * list_values))
        eid = f"exec-{seq % EXECUTIONS}"
        out.append(encode_envelope(Envelope("bench", seq, eid, "bench", None, events)))
    return out


async def fill(bootstrap: str, topic: str, payloads: list[bytes]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    await admin.create_topics([NewTopic(topic, 4, 1)])
    await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, acks="all")
    await producer.start()
    sends = [
        await producer.send(topic, p, key=f"exec-{i % EXECUTIONS}".encode())
        for i, p in enumerate(payloads)
    ]
    await asyncio.gather(*sends)
    await producer.stop()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def drain(bootstrap: str, redis_url: str, topic: str, events: int) -> tuple[float, float]:
    prefix = f"bench-{topic}"
    env = {
        **os.environ,
        "STEPMETRICS_KAFKA_BOOTSTRAP": bootstrap,
        "STEPMETRICS_TOPIC": topic,
        "STEPMETRICS_REDIS_URL": redis_url,
        "STEPMETRICS_REDIS_PREFIX": prefix,
        "STEPMETRICS_WORKER_GROUP": topic,
        "STEPMETRICS_KAFKA_SESSION_TIMEOUT": "4",
        "STEPMETRICS_WORKER_LOG_LEVEL": "warning",
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "stepmetrics.cli.worker", env=env, stdout=asyncio.subprocess.PIPE
    )
    assert proc.stdout is not None
    while WORKER_READY.encode() not in await proc.stdout.readline():
        pass
    start, cpu_start = time.perf_counter(), cpu_seconds(proc.pid)
    client = aioredis.Redis.from_url(redis_url)
    keys = RedisKeys(prefix)
    while (await read_stats(client, keys))["events_applied"] < events:  # noqa: ASYNC110 - polls Redis
        await asyncio.sleep(0.01)
    elapsed, cpu = time.perf_counter() - start, cpu_seconds(proc.pid) - cpu_start
    await client.aclose()
    proc.terminate()
    await proc.wait()
    return elapsed, cpu


async def run(runs: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="stepmetrics-bench-"))
    broker = start_broker(work, free_port())
    redis = start_redis(work, free_port(), appendonly=True)
    try:
        for kind, count, per in (("s", 400, 1), ("l", 200, 20)):
            rates, cpu_rates = [], []
            for r in range(runs):
                topic = f"bench-{kind}-{r}"
                await fill(broker.address, topic, envelopes(kind, count, per))
                elapsed, cpu = await drain(broker.address, redis.address, topic, count * 500)
                units = count * 500 * per
                rates.append(units / elapsed)
                cpu_rates.append(units / cpu)
                print(
                    f"{kind} run {r}: {units} in {elapsed:.2f}s = {units / elapsed:,.0f}/s "
                    f"(worker CPU {cpu:.2f}s = {units / cpu:,.0f}/CPU-s)"
                )
            label = "scalar events/s" if kind == "s" else "list values/s"
            print(
                f"median {label}: {statistics.median(rates):,.0f} wall, "
                f"{statistics.median(cpu_rates):,.0f} per worker CPU-second"
            )
    finally:
        broker.stop()
        redis.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    asyncio.run(run(parser.parse_args().runs))
