"""The real services tests and benchmarks run against, started as `stepmetrics up` starts them.

`service_pool()` starts brokers or redis-servers on free ports in fresh
directories and stops them all at the end (the pytest session fixtures use
it); `create_topic()` creates a topic as the worker does
(`stepmetrics.processors.topics`). `running_stack()` drives
`stepmetrics.stack.launcher.Launcher` (broker, redis-server, topics, worker,
reader API, all child processes on 127.0.0.1) from a background thread, in a
temp data dir, with free ports; given a `RedisTarget` (the test cluster),
the worker and API use it instead of an embedded redis-server.
"""

from __future__ import annotations

import contextlib
import secrets
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final, TypeAlias

import redis
from redis.cluster import RedisCluster

from stepmetrics.processors.topics import create_missing_topics
from stepmetrics.producers.security import KafkaSecurity
from stepmetrics.producers.settings import BOOTSTRAP, TOPIC
from stepmetrics.stack.launcher import Launcher, Ports
from stepmetrics.stack.services import ManagedProcess, free_port
from stepmetrics.stack.settings import DEFAULT_PARTITIONS, StackSettings
from stepmetrics.stack.state import StackState
from stepmetrics.store.settings import API_TOKEN, API_URL
from tests.support.redis_targets import RedisTarget

START_TIMEOUT: Final = 90.0
SyncRedis: TypeAlias = "redis.Redis | RedisCluster"


@dataclass(frozen=True)
class BenchStack:
    """Addresses of the running stack and its child processes."""

    bootstrap: str
    redis_url: str
    api_url: str
    token: str
    topic: str
    partitions: int
    children: dict[str, ManagedProcess]
    workdir: Path
    redis_cluster: bool = False

    def pid(self, name: str) -> int:
        """Process id of a child ("broker", "redis", "worker", "api")."""
        return self.children[name].proc.pid

    def step_env(self) -> dict[str, str]:
        """The environment a step (or a query client) needs to reach this stack."""
        return {
            BOOTSTRAP.name: self.bootstrap,
            TOPIC.name: self.topic,
            API_URL.name: self.api_url,
            API_TOKEN.name: self.token,
        }

    def sync_redis(self) -> SyncRedis:
        """A blocking client of the stack's Redis (a cluster client on a cluster)."""
        if self.redis_cluster:
            return RedisCluster.from_url(self.redis_url)
        return redis.Redis.from_url(self.redis_url)


ServiceFactory = Callable[[], ManagedProcess]


@contextlib.contextmanager
def service_pool(
    start: Callable[[Path, int], ManagedProcess], workdir: Callable[[], Path]
) -> Iterator[ServiceFactory]:
    """Yield a factory that starts `start(fresh workdir, free port)`; stop all at exit."""
    started: list[ManagedProcess] = []

    def make() -> ManagedProcess:
        managed = start(workdir(), free_port())
        started.append(managed)
        return managed

    try:
        yield make
    finally:
        for managed in started:
            managed.stop()


async def create_topic(
    bootstrap: str,
    name: str,
    partitions: int = DEFAULT_PARTITIONS,
    security: KafkaSecurity | None = None,
) -> str:
    """Create `name` with an explicit partition count (Tansu auto-creation gives 4)."""
    await create_missing_topics(bootstrap, [name], partitions, security=security)
    return name


class _TargetLauncher(Launcher):
    """A launcher whose worker and API use `target` if given, with the variables
    `stepmetrics up` passes on from its environment for an external Redis (cluster
    mode, TLS files)."""

    def __init__(self, settings: StackSettings, ports: Ports, target: RedisTarget | None) -> None:
        super().__init__(settings, ports)
        self.target = target

    def _app_env(self, kafka: str, redis: str, api_url: str, token: str) -> dict[str, str]:
        env = super()._app_env(kafka, redis, api_url, token)
        return env if self.target is None else {**env, **self.target.env()}


@contextlib.contextmanager
def running_stack(target: RedisTarget | None = None) -> Iterator[BenchStack]:
    """Run the whole local stack in a temp dir until the block exits; on `target`'s
    Redis if given, else on its own redis-server."""
    with tempfile.TemporaryDirectory(prefix="stepmetrics-bench-") as tmp:
        settings = StackSettings(
            data_dir=Path(tmp),
            api_token=secrets.token_urlsafe(24),
            redis_url=None if target is None else target.url,
        )
        launcher = _TargetLauncher(
            settings, Ports(free_port(), free_port(), free_port(), free_port()), target
        )
        ready = threading.Event()
        states: list[StackState] = []
        failures: list[BaseException] = []

        def on_ready(state: StackState) -> None:
            states.append(state)
            ready.set()

        def run() -> None:
            try:
                launcher.run(on_ready)
            except BaseException as exc:  # noqa: BLE001 - reported to the main thread
                failures.append(exc)
                ready.set()

        thread = threading.Thread(target=run, name="bench-stack", daemon=True)
        thread.start()
        try:
            if not ready.wait(START_TIMEOUT) or failures:
                raise RuntimeError(f"the stack did not start: {failures or 'timeout'}")
            cluster = target is not None and target.cluster
            yield _bench_stack(states[0], launcher, Path(tmp), settings.topic_partitions, cluster)
        finally:
            launcher.stopping = True
            thread.join(5)
            launcher.shutdown()


def _bench_stack(
    state: StackState, launcher: Launcher, workdir: Path, parts: int, cluster: bool
) -> BenchStack:
    return BenchStack(
        bootstrap=state.kafka,
        redis_url=state.redis,
        api_url=state.api or "",  # empty until the reader API is installed
        token=state.token,
        topic=state.topic,
        partitions=parts,
        children={child.name: child for child in launcher.children},
        workdir=workdir,
        redis_cluster=cluster,
    )
