"""Secured Redis for real: TLS only (mutual), ACL users with least privilege.

One redis-server serves TLS only (`port 0`, `tls-auth-clients yes`) with the
default user off and three ACL users: the worker's (`WRITER_ACL_COMMANDS`), the
reader API's (`READER_ACL_COMMANDS`) and an admin for the test's own checks.
The real worker process writes through `rediss://writer:...@`, the reader API
reads through `rediss://reader:...@`, each with exactly its command list.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoPermissionError

from stepmetrics.processors.retention import RetentionSweeper
from stepmetrics.processors.writes.writer import WRITER_ACL_COMMANDS, MetricsWriter
from stepmetrics.producers.events import Envelope
from stepmetrics.stack.services import ManagedProcess, free_port
from stepmetrics.store.connection import RedisClient
from stepmetrics.store.keys import RedisKeys
from stepmetrics.store.lifecycle import Deleter
from stepmetrics.store.lifecycle.deletion import DELETER_ACL_COMMANDS
from stepmetrics.store.reader import READER_ACL_COMMANDS
from stepmetrics.store.stats import read_stats
from tests.support.api import api_client, running_api
from tests.support.metrics_state import actual_state, expected_state
from tests.support.redis_targets import RedisTarget
from tests.support.secured_redis import start_secured_redis
from tests.support.tls import Certificates
from tests.support.worker import WorkerProcess, make_envelopes, produce, wait_for, worker_env

PREFIX = "secured"
TOKEN = "secured-redis-token-0123456789"  # noqa: S105 (a test token)
PASSWORDS = {name: secrets.token_urlsafe(16) for name in ("writer", "reader", "deleter", "admin")}
ADMIN_TOKEN = "secured-redis-admin-token-0123456789"  # noqa: S105 (a test token)
EXECUTIONS = ["exec-a", "exec-b"]


def _user(name: str, commands: tuple[str, ...]) -> str:
    keys = f"~{PREFIX}:*" if name != "admin" else "~*"
    return f"{name} on >{PASSWORDS[name]} resetkeys {keys} resetchannels {' '.join(commands)}"


@pytest.fixture(scope="module")
def secured(
    tmp_path_factory: pytest.TempPathFactory, certs: Certificates
) -> Iterator[ManagedProcess]:
    users = [
        _user("writer", WRITER_ACL_COMMANDS),
        _user("reader", READER_ACL_COMMANDS),
        # A reader API with deleting on: the reader's commands and the deleter's.
        _user("deleter", (*READER_ACL_COMMANDS, *DELETER_ACL_COMMANDS)),
        _user("admin", ("+@all",)),
    ]
    server = start_secured_redis(tmp_path_factory.mktemp("secured"), free_port(), certs, users)
    yield server
    server.stop()


def _as(user: str, server: ManagedProcess, certs: Certificates) -> RedisTarget:
    return RedisTarget(
        f"rediss://{user}:{PASSWORDS[user]}@{server.address}/0",
        cluster=False,
        ssl_cafile=str(certs.ca),
        ssl_certfile=str(certs.client_cert),
        ssl_keyfile=str(certs.client_key),
    )


async def test_worker_and_reader_api_work_with_least_privilege_over_tls(
    broker: ManagedProcess, topic: str, secured: ManagedProcess, certs: Certificates, tmp_path: Path
) -> None:
    keys = RedisKeys(PREFIX)
    writer = _as("writer", secured, certs)
    worker = WorkerProcess(
        worker_env(broker.address, topic, writer, PREFIX, topic), tmp_path / "worker.log"
    )
    await worker.start()
    admin = _as("admin", secured, certs).client()
    try:
        envelopes = make_envelopes("p1", EXECUTIONS, count=30, events_per=10, seed=3)
        await produce(broker.address, topic, envelopes)

        async def applied() -> bool:
            return (await read_stats(admin, keys))["envelopes_applied"] >= len(envelopes)

        await wait_for(applied, 60, "every envelope applied by the writer user")
        # Lag reports (HSET on the stats) and the indexes work too.
        await wait_for(lambda: _has_lag(admin, keys), 30, "the lag reported")
        assert await actual_state(admin, keys, EXECUTIONS) == expected_state(envelopes)
        assert await worker.stop() == 0
        assert "NOPERM" not in worker.log()
        reader = _as("reader", secured, certs)
        async with running_api(reader, PREFIX, TOKEN) as app, api_client(app, TOKEN) as http:
            assert (await http.get("/readyz")).status_code == 200
            await _every_read_answers(http)
    finally:
        await worker.stop()
        await admin.aclose()


async def test_retention_and_the_api_delete_with_least_privilege(
    secured: ManagedProcess, certs: Certificates
) -> None:
    keys = RedisKeys(PREFIX)
    ancient = 978_307_200_000_000  # 2001-01-01: older than the retention below
    events = [("s", "acc", ancient, 1.0), ("l", "loss", ancient, [1.0])]
    writer = _as("writer", secured, certs).client()
    try:
        await MetricsWriter(writer, keys).apply(
            [Envelope("p", 0, eid, "train", "dep", events) for eid in ("old-x", "del-x")]
        )
        # As if written before the index by last update existed: the backfill runs.
        await writer.zrem(keys.updated, "old-x")
        # The worker's retention, with exactly the worker's commands; 20 years
        # spares every other execution of this prefix (recorded in 2025).
        sweeper = RetentionSweeper(Deleter.create(writer, keys, 3600), 20 * 365, pause=0)
        await sweeper.run_once()
        assert await writer.exists(keys.meta("old-x")) == 0
        assert await writer.exists(keys.meta("del-x")) == 0  # both are older
        await MetricsWriter(writer, keys).apply(
            [Envelope("p", 0, "api-x", "train", "dep", events[:1])]
        )
    finally:
        await writer.aclose()
    deleter = _as("deleter", secured, certs)
    async with (
        running_api(deleter, PREFIX, TOKEN, admin_token=ADMIN_TOKEN) as app,
        api_client(app, ADMIN_TOKEN) as http,
    ):
        assert (await http.delete("/api/v1/executions/api-x")).status_code == 204
        assert (await http.delete("/api/v1/executions/api-x")).status_code == 404


async def _has_lag(client: RedisClient, keys: RedisKeys) -> bool:
    return bool(await client.hexists(keys.stats, "lag_updated_us"))


async def _every_read_answers(http: httpx.AsyncClient) -> None:
    for path in (
        "/api/v1/metrics",
        "/api/v1/list-metrics",
        "/api/v1/executions",
        "/api/v1/executions?pipeline_name=train",
        f"/api/v1/executions/{EXECUTIONS[0]}",
        f"/api/v1/metrics?execution_id={EXECUTIONS[1]}",
        # Refused the name script (no EVALSHA_RO): answered by the pipelined reads.
        "/api/v1/metrics?name=m0",
        "/api/v1/list-metrics?name=m0",
        "/api/v1/stats",
    ):
        answer = await http.get(path)
        assert answer.status_code == 200, (path, answer.text)
    items = (await http.get(f"/api/v1/metrics?execution_id={EXECUTIONS[0]}")).json()["items"]
    assert items
    assert {item["execution_id"] for item in items} == {EXECUTIONS[0]}


async def _each_refused(
    target: RedisTarget,
    calls: Callable[[RedisClient], Iterable[Awaitable[object]]],
    error: type[Exception] = NoPermissionError,
) -> None:
    """Each of the `calls` made by a new client of `target` fails with `error`."""
    client = target.client()
    try:
        for call in calls(client):
            with pytest.raises(error):
                await call
    finally:
        await client.aclose()


async def test_the_read_only_user_cannot_write(
    secured: ManagedProcess, certs: Certificates
) -> None:
    keys = RedisKeys(PREFIX)
    reader = _as("reader", secured, certs)
    async with reader.client() as client:
        await client.hgetall(keys.stats)  # reading is allowed
    await _each_refused(
        reader,
        lambda client: (
            client.hset(keys.stats, "lag", 1),
            client.zadd(keys.executions, {"x": 1}),
            client.delete(keys.meta("exec-a")),
            client.script_load("return 1"),
            client.flushdb(),
        ),
    )


async def test_the_worker_user_can_only_write_its_prefix(
    secured: ManagedProcess, certs: Certificates
) -> None:
    await _each_refused(
        _as("writer", secured, certs),
        lambda client: (
            client.hset("other:stats", "lag", 1),  # another prefix
            # DEL is the worker's for its own prefix only (the one-time
            # migration of old `applied` sets deletes them).
            client.delete("other:stats"),
            client.flushdb(),
            client.keys("*"),
        ),
    )


async def test_tls_refuses_a_client_without_certificate_or_with_a_wrong_ca(
    secured: ManagedProcess, certs: Certificates
) -> None:
    reader = _as("reader", secured, certs)
    for target in (
        replace(reader, ssl_certfile="", ssl_keyfile=""),  # tls-auth-clients yes
        replace(reader, ssl_cafile=str(certs.other_ca)),  # the server's certificate is not trusted
    ):
        await _each_refused(target, lambda client: [client.ping()], RedisConnectionError)
    wrong_password = replace(reader, url=reader.url.replace(PASSWORDS["reader"], "wrong-pw"))
    client = wrong_password.client()
    try:
        with pytest.raises(Exception, match="invalid username-password") as caught:
            await client.ping()
        assert "wrong-pw" not in str(caught.value)
    finally:
        await client.aclose()
