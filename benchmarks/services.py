"""The real services a benchmark runs against, started like `stepmetrics up` starts them.

Broker and redis-server come from `stepmetrics.stack.services` (the same
binaries, flags and readiness checks as the local stack and the tests).
Everything listens on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from stepmetrics.stack.services import ManagedProcess, free_port, start_broker, start_redis

PARTITIONS: Final = 4


@dataclass
class BenchServices:
    """Addresses of the running broker and redis-server, plus what we started."""

    bootstrap: str
    redis_url: str
    workdir: Path
    started: list[ManagedProcess] = field(default_factory=list)


async def create_topic(bootstrap: str, name: str, partitions: int = PARTITIONS) -> str:
    """Create `name` with an explicit partition count (Tansu auto-creation gives 4)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, partitions, 1)])
    finally:
        await admin.close()
    return name


@contextlib.contextmanager
def running_services(
    bootstrap: str | None = None, redis_url: str | None = None
) -> Iterator[BenchServices]:
    """Start a broker and a redis-server (unless given) in a temp dir; stop them after."""
    with tempfile.TemporaryDirectory(prefix="stepmetrics-bench-") as tmp:
        workdir = Path(tmp)
        services = BenchServices(bootstrap or "", redis_url or "", workdir)
        try:
            if not bootstrap:
                broker = start_broker(workdir, free_port())
                services.started.append(broker)
                services.bootstrap = broker.address
            if not redis_url:
                # AOF on (everysec), as `stepmetrics up` runs it.
                redis = start_redis(workdir, free_port(), appendonly=True)
                services.started.append(redis)
                services.redis_url = redis.address
            yield services
        finally:
            for managed in reversed(services.started):
                managed.stop()
