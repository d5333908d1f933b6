"""Redis connection settings: parsing, validation naming the variable, no password anywhere."""

from __future__ import annotations

from pathlib import Path

import pytest
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from stepmetrics.envvars import redact
from stepmetrics.processors import ProcessorSettings, ProcessorSettingsError
from stepmetrics.stack.errors import StackSettingsError
from stepmetrics.stack.settings import StackSettings
from stepmetrics.store.connection import RedisConnection
from stepmetrics.store.errors import StoreSettingsError

PASSWORD = "pw-3f9a1c"  # noqa: S105
URL = f"redis://writer:{PASSWORD}@r.example:6380/0"


def test_redact_masks_only_the_password() -> None:
    assert redact(URL) == "redis://writer:***@r.example:6380/0"
    assert redact(f"rediss://:{PASSWORD}@h:1") == "rediss://:***@h:1"
    assert redact("redis://h:1/0") == "redis://h:1/0"


def test_from_env_reads_every_variable(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    conn = RedisConnection.from_env(
        {
            "STEPMETRICS_REDIS_URL": f"rediss://u:{PASSWORD}@h:1/0",
            "STEPMETRICS_REDIS_CLUSTER": "TRUE",
            "STEPMETRICS_REDIS_SSL_CAFILE": str(ca),
            "STEPMETRICS_REDIS_SSL_CERTFILE": str(ca),
            "STEPMETRICS_REDIS_SSL_KEYFILE": str(ca),
        }
    )
    assert (conn.cluster, conn.ssl_cafile, conn.ssl_certfile, conn.ssl_keyfile) == (
        True,
        str(ca),
        str(ca),
        str(ca),
    )
    assert PASSWORD not in repr(conn)
    assert "u:***@h:1" in repr(conn)
    assert RedisConnection.from_env({}) == RedisConnection()


@pytest.mark.parametrize(
    ("environ", "fragment"),
    [
        (
            {"STEPMETRICS_REDIS_URL": f"http://u:{PASSWORD}@h"},
            "STEPMETRICS_REDIS_URL='http://u:***@h'",
        ),
        ({"STEPMETRICS_REDIS_CLUSTER": "maybe"}, "STEPMETRICS_REDIS_CLUSTER='maybe'"),
        (
            {"STEPMETRICS_REDIS_URL": "unix:///tmp/r.sock", "STEPMETRICS_REDIS_CLUSTER": "true"},
            "seed node",
        ),
        (
            {"STEPMETRICS_REDIS_URL": "redis://h:1/2", "STEPMETRICS_REDIS_CLUSTER": "true"},
            "with database 0",
        ),
        (
            {"STEPMETRICS_REDIS_URL": URL, "STEPMETRICS_REDIS_SSL_CAFILE": "/etc/hostname"},
            "STEPMETRICS_REDIS_SSL_CAFILE='/etc/hostname' is not allowed: only with a rediss://",
        ),
        (
            {"STEPMETRICS_REDIS_URL": "rediss://h:1", "STEPMETRICS_REDIS_SSL_CAFILE": "/no/ca"},
            "STEPMETRICS_REDIS_SSL_CAFILE='/no/ca' is not allowed: a readable file",
        ),
        (
            {
                "STEPMETRICS_REDIS_URL": "rediss://h:1",
                "STEPMETRICS_REDIS_SSL_KEYFILE": "/etc/hostname",
            },
            "only with STEPMETRICS_REDIS_SSL_CERTFILE",
        ),
    ],
)
def test_bad_values_name_the_variable_never_the_password(
    environ: dict[str, str], fragment: str
) -> None:
    with pytest.raises(StoreSettingsError) as caught:
        RedisConnection.from_env(environ)
    assert fragment in str(caught.value)
    assert PASSWORD not in str(caught.value)
    # The worker and `up` report the same, in their own error roots.
    with pytest.raises(ProcessorSettingsError, match="STEPMETRICS_REDIS_") as worker:
        ProcessorSettings.from_env(environ)
    assert PASSWORD not in str(worker.value)
    external = {"STEPMETRICS_REDIS_URL": URL, **environ}
    with pytest.raises(StackSettingsError, match="STEPMETRICS_REDIS_") as stack:
        StackSettings.from_env(external)
    assert PASSWORD not in str(stack.value)


async def test_connect_builds_the_client_the_settings_ask_for() -> None:
    single = RedisConnection(URL).connect(timeout=3.0, connect_timeout=1.0)
    assert isinstance(single, Redis)
    kwargs = single.connection_pool.connection_kwargs
    assert (kwargs["username"], kwargs["password"]) == ("writer", PASSWORD)
    assert (kwargs["socket_timeout"], kwargs["socket_connect_timeout"]) == (3.0, 1.0)
    await single.aclose()
    cluster = RedisConnection(URL, cluster=True).connect(timeout=3.0)
    assert isinstance(cluster, RedisCluster)
    await cluster.aclose()


def test_worker_settings_keep_the_password_out_of_repr() -> None:
    settings = ProcessorSettings.from_env({"STEPMETRICS_REDIS_URL": URL})
    assert settings.redis.url == URL
    assert PASSWORD not in repr(settings)
