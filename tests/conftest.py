"""Test harness: real services on free ports, unique topics and key prefixes.

Unit tests (tests/unit) need nothing running. Integration tests (tests/integration)
get a real Kafka-compatible broker (Tansu) and a real redis-server, started here
as child processes in temporary directories (helpers in `tests.support`).
Missing infrastructure is an error, never a skip.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import cast

import pytest

from stepmetrics.stack.services import ManagedProcess, start_broker, start_redis
from stepmetrics.store.connection import RedisClient
from stepmetrics.store.keys import RedisKeys
from tests.support.redis_targets import CLUSTER, SINGLE, RedisTarget, start_cluster
from tests.support.services import ServiceFactory, create_topic, service_pool
from tests.support.tls import Certificates, make_certificates


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration" in item.path.as_posix():
            item.add_marker(pytest.mark.integration)


@pytest.fixture(autouse=True)
def _private_cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The SDK spools what it cannot deliver under the user's cache directory:
    each test (and its child processes) gets its own, never the real one."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))


@pytest.fixture(scope="session")
def broker_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceFactory]:
    """Start extra brokers (for tests that freeze or kill their own)."""
    with service_pool(start_broker, lambda: tmp_path_factory.mktemp("broker")) as make:
        yield make


@pytest.fixture(scope="session")
def redis_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceFactory]:
    """Start extra redis-servers (for tests that restart their own)."""
    start = functools.partial(start_redis, appendonly=True)
    with service_pool(start, lambda: tmp_path_factory.mktemp("redis")) as make:
        yield make


@pytest.fixture(scope="session")
def broker(broker_factory: ServiceFactory) -> ManagedProcess:
    """The session's shared broker; `.address` is its bootstrap `host:port`."""
    return broker_factory()


@pytest.fixture(scope="session")
def redis_server(redis_factory: ServiceFactory) -> ManagedProcess:
    """The session's shared redis-server; `.address` is its `redis://` URL."""
    return redis_factory()


@pytest.fixture
def unique_name(request: pytest.FixtureRequest) -> str:
    safe = "".join(c if c.isalnum() else "-" for c in request.node.name)[:40]
    return f"{safe}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def topic(broker: ManagedProcess, unique_name: str) -> str:
    """A fresh topic on the shared broker, unique to the test."""
    return await create_topic(broker.address, f"metrics-{unique_name}")


@pytest.fixture
def redis_keys(unique_name: str) -> RedisKeys:
    """A key builder with a prefix unique to the test."""
    return RedisKeys(prefix=f"t-{unique_name}")


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisTarget]:
    """The session's real 3-master Redis Cluster (started on first use)."""
    with start_cluster(tmp_path_factory.mktemp("cluster")) as cluster:
        yield cluster


@pytest.fixture(scope="session", params=[SINGLE])
def redis_target(request: pytest.FixtureRequest) -> RedisTarget:
    """The Redis a test runs against: the shared redis-server, or the cluster when a
    module parametrizes it: `pytestmark = pytest.mark.parametrize("redis_target",
    REDIS_MODES, indirect=True)`."""
    if request.param == CLUSTER:
        return cast("RedisTarget", request.getfixturevalue("redis_cluster"))
    server = cast("ManagedProcess", request.getfixturevalue("redis_server"))
    return RedisTarget(server.address, cluster=False)


@pytest.fixture
async def redis_client(redis_target: RedisTarget) -> AsyncIterator[RedisClient]:
    """A client of `redis_target`, built as the product builds its own."""
    client = redis_target.client()
    yield client
    await client.aclose()


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    """A throwaway CA with the server and client certificates it signed, and an
    unrelated CA (tests.support.tls): for the TLS broker, the TLS redis-server
    and the security settings."""
    return make_certificates(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """Where tests leave files worth keeping (screenshots, logs)."""
    path = Path(__file__).resolve().parent.parent / "test-artifacts"
    path.mkdir(exist_ok=True)
    return path
