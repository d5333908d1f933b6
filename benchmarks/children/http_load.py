"""A minimal keep-alive HTTP/1.1 load client (child process) for API queries/s.

A full client such as httpx spends more CPU per request than the API itself on
this 2-core machine, so the load comes from plain asyncio streams: each
connection sends one GET, reads the status line, headers and Content-Length
body, and repeats until the time is up.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Final
from urllib.parse import urlsplit

from benchmarks.harness.runner import child_main, percentile

OK: Final = b"HTTP/1.1 200"


async def _connection(spec: dict[str, Any], stop_at: float, latencies: list[float]) -> int:
    parts = urlsplit(spec["url"])
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    request = (
        f"GET {parts.path}?{parts.query} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        f"Authorization: Bearer {spec['token']}\r\n\r\n"
    ).encode()
    done = 0
    try:
        while time.perf_counter() < stop_at:
            start = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            if not head.startswith(OK):
                raise RuntimeError(f"API answered {head[:200]!r}")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - start)
            done += 1
    finally:
        writer.close()
        await writer.wait_closed()
    return done


async def _load(spec: dict[str, Any]) -> dict[str, Any]:
    latencies: list[float] = []
    start = time.perf_counter()
    stop_at = start + spec["seconds"]
    counts = await asyncio.gather(
        *(_connection(spec, stop_at, latencies) for _ in range(spec["connections"]))
    )
    elapsed = time.perf_counter() - start
    return {
        "queries_per_s": sum(counts) / elapsed,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
    }


if __name__ == "__main__":
    child_main(lambda spec: asyncio.run(_load(spec)))
