"""Measure the reader against its targets (a short script, not the bench suite).

    .venv/bin/python scripts/measure_reader.py [--workers N]

Starts its own redis-server and `stepmetrics api` on free ports, seeds one
execution with 1,000 scalars and one with a full 50,000-value list, then
reports medians of `MetricsClient` queries, warm (the API's response cache
holds the answer) and cold (the first query after the execution changed:
its `version` is bumped before each timed call, as an applied envelope
does), and the API's small-query rate
(measured with a minimal raw-socket HTTP/1.1 keep-alive load generator, so the
client costs little CPU next to the server on a 2-core machine).
"""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from array import array
from collections.abc import Callable
from pathlib import Path

import httpx
import redis

from stepmetrics.stack.services import free_port, start_redis
from stepmetrics.store.client import MetricsClient
from stepmetrics.store.keys import RedisKeys
from stepmetrics.store.settings import ClientSettings

TOKEN = "measure-token-0123456789"  # noqa: S105 (a throwaway local token)
T0 = 1_764_000_000_000_000
SMALL_QUERIES = (
    "/healthz",
    "/api/v1/metrics?execution_id=small",
    "/api/v1/executions/small",
    "/api/v1/metrics?name=metric_0007",
    "/api/v1/executions?limit=2",
)
SERVE = "import sys; from stepmetrics.store.api.server import main; sys.exit(main(sys.argv[1:]))"


def seed(url: str, keys: RedisKeys) -> None:
    r = redis.Redis.from_url(url)
    pipe = r.pipeline()
    executions = (
        ("scalars-1000", T0, "bench"),
        ("list-50k", T0 + 1, "bench"),
        ("small", T0 + 2, "s"),
    )
    for eid, created, pipeline in executions:
        pipe.hset(keys.meta(eid), mapping={"pipeline_name": pipeline, "created_us": created,
                                           "updated_us": created, "version": 1})  # fmt: skip
        for key in (keys.executions, keys.pipeline_index(pipeline)):
            pipe.zadd(key, {eid: created}, lt=True)
    for i in range(1000):
        name = f"metric_{i:04d}"
        pipe.hset(keys.scalar_values("scalars-1000"), name, repr(random.random()))  # noqa: S311
        pipe.hset(keys.scalar_orders("scalars-1000"), name, f"{T0 + i} {i} 0")
        pipe.zadd(keys.scalar_name_index(name), {"scalars-1000": T0}, lt=True)
    for i, name in enumerate(("accuracy", "loss", "f1")):
        pipe.hset(keys.scalar_values("small"), name, repr(i / 3))
        pipe.hset(keys.scalar_orders("small"), name, f"{T0 + 2} {i} 0")
    values = array("d", (random.random() for _ in range(50_000)))  # noqa: S311
    pipe.set(keys.list_values("list-50k", "loss"), values.tobytes())
    pipe.hset(keys.list_created("list-50k"), "loss", str(T0 + 1))
    pipe.zadd(keys.list_name_index("loss"), {"list-50k": T0 + 1}, lt=True)
    pipe.execute()
    r.close()


def timings_ms(
    call: Callable[[], object], runs: int, before: Callable[[], object] | None = None
) -> str:
    """Median and minimum wall time of `call` (`before` runs untimed ahead of
    each); the minimum shows the uncontended cost when other processes share
    the cores."""
    call()  # warm up
    times = []
    for _ in range(runs):
        if before is not None:
            before()
        start = time.perf_counter()
        call()
        times.append((time.perf_counter() - start) * 1000)
    return f"median {statistics.median(times):.2f} ms, min {min(times):.2f} ms"


async def rate(port: int, path: str, seconds: float, connections: int) -> float:
    request = (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n\r\n"
    ).encode()
    done = 0
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal done
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while time.perf_counter() < deadline:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1.1 200"):
                raise RuntimeError(head.decode())
            length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
            await reader.readexactly(length)
            done += 1
        writer.close()

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(connections)))
    return done / (time.perf_counter() - start)


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        redis_proc = start_redis(Path(tmp), free_port())
        keys = RedisKeys("measure")
        seed(redis_proc.address, keys)
        port = free_port()
        env = {
            **os.environ,
            "STEPMETRICS_API_TOKEN": TOKEN,
            "STEPMETRICS_API_PORT": str(port),
            "STEPMETRICS_REDIS_URL": redis_proc.address,
            "STEPMETRICS_REDIS_PREFIX": "measure",
        }
        command = [sys.executable, "-c", SERVE, "--log-level", "warning", *sys.argv[1:]]
        api = subprocess.Popen(command, env=env)  # noqa: S603 (our own interpreter)
        url = f"http://127.0.0.1:{port}"
        try:
            for _ in range(200):
                try:
                    if httpx.get(f"{url}/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.05)
            client = MetricsClient(ClientSettings(token=TOKEN, api_url=url))
            (listed,) = client.get_list_metrics(execution_id="list-50k")
            if (
                len(client.get_metrics(execution_id="scalars-1000")) != 1000
                or len(
                    listed["value"]  # type: ignore[arg-type]
                )
                != 50_000
            ):
                raise RuntimeError("the seeded data did not come back")
            bump = redis.Redis.from_url(redis_proc.address)
            queries = (
                ("get_metrics(execution_id) 1,000 scalars", "scalars-1000", 200, 5,
                 lambda: client.get_metrics(execution_id="scalars-1000")),
                ("get_list_metrics one 50,000-value list", "list-50k", 50, 50,
                 lambda: client.get_list_metrics(execution_id="list-50k")),
            )  # fmt: skip
            for label, eid, runs, target, call in queries:
                warm = timings_ms(call, runs)
                cold = timings_ms(call, runs, lambda e=eid: bump.hincrby(keys.meta(e), "version"))
                print(f"{label}: warm {warm}; cold {cold} (target median <= {target})")
            bump.close()
            for path in SMALL_QUERIES:
                rates = [asyncio.run(rate(port, path, 3.0, 8)) for _ in range(3)]
                print(f"API {path}: median {statistics.median(rates):.0f} req/s "
                      f"(runs {', '.join(f'{r:.0f}' for r in rates)}; >= 2000)")  # fmt: skip
        finally:
            api.terminate()
            api.wait(10)
            redis_proc.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
