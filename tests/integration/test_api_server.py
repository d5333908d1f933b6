"""`stepmetrics api` as a real uvicorn server, queried by the sync client and the CLI."""

from __future__ import annotations

import asyncio
import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import orjson
import pytest
import redis.asyncio as aioredis

from stepmetrics.cli import get as cli_get
from stepmetrics.stack.services import ManagedProcess, free_port
from stepmetrics.store.client import MetricsClient
from stepmetrics.store.errors import ApiAuthError
from stepmetrics.store.keys import RedisKeys
from stepmetrics.store.settings import ClientSettings
from tests.support.seed import seed_execution

TOKEN = "server-test-token-42"  # noqa: S105 (a test token)
WRONG_TOKEN = "not-the-token"  # noqa: S105
T0 = 1_764_000_000_000_000
SERVE = "import sys; from stepmetrics.cli.api import main; sys.exit(main(sys.argv[1:]))"


@pytest.fixture
def start_api(
    redis_server: ManagedProcess, redis_keys: RedisKeys, tmp_path: Path
) -> Iterator[Callable[..., str]]:
    """Start `stepmetrics api` (extra CLI arguments allowed); return its URL."""
    started: list[tuple[subprocess.Popen[bytes], Path]] = []

    def start(*argv: str) -> str:
        port = free_port()
        env = {
            **os.environ,
            "STEPMETRICS_API_TOKEN": TOKEN,
            "STEPMETRICS_REDIS_URL": redis_server.address,
            "STEPMETRICS_REDIS_PREFIX": redis_keys.prefix,
            "STEPMETRICS_API_PORT": str(port),
        }
        log_path = tmp_path / f"api-{len(started)}.log"
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                [sys.executable, "-c", SERVE, "--log-level", "warning", *argv],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        started.append((proc, log_path))
        url = f"http://127.0.0.1:{port}"
        _wait_healthy(url, proc, log_path)
        return url

    yield start
    for proc, log_path in started:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(10)
        # uvicorn shuts down gracefully, then re-raises SIGTERM (exit status -15).
        assert code in (0, -signal.SIGTERM), log_path.read_text()
        assert "Traceback" not in log_path.read_text()


@pytest.fixture
def api_url(start_api: Callable[..., str]) -> str:
    return start_api()


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"API exited {proc.returncode}: {log_path.read_text()}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.05)
    raise AssertionError(f"API not healthy in 20 s: {log_path.read_text()}")


async def _seed(redis: aioredis.Redis, keys: RedisKeys) -> None:
    await seed_execution(
        redis, keys, "run-1", pipeline_name="my_pipeline", deployment_name="my_deployment",
        created_us=T0, scalars={"accuracy": 0.1409, "loss": 1 / 3},
        lists={"accuracy_list": [0.89, 0.92, 0.95], "loss_list": [1.4, 1.2, 1.1, 1.0]},
    )  # fmt: skip
    await seed_execution(
        redis, keys, "run-2", pipeline_name="my_pipeline", created_us=T0 + 1,
        scalars={"accuracy": math.nan}, lists={"curve": [math.inf, 0.5]},
    )  # fmt: skip


async def test_sync_client_through_uvicorn(
    api_url: str, redis_client: aioredis.Redis, redis_keys: RedisKeys
) -> None:
    await _seed(redis_client, redis_keys)

    def query() -> None:
        with MetricsClient(ClientSettings(token=TOKEN, api_url=api_url)) as client:
            loss = client.get_metrics(name="loss")
            assert loss == [
                {
                    "name": "loss",
                    "value": 1 / 3,
                    "created_at": "2025-11-24T16:00:00.000001Z",
                    "execution_id": "run-1",
                    "deployment_name": "my_deployment",
                    "pipeline_name": "my_pipeline",
                }
            ]
            by_pipeline = client.get_metrics(pipeline_name="my_pipeline")
            assert [(m["execution_id"], m["name"]) for m in by_pipeline] == [
                ("run-1", "accuracy"), ("run-1", "loss"), ("run-2", "accuracy"),
            ]  # fmt: skip
            assert math.isnan(by_pipeline[2]["value"])  # type: ignore[arg-type]
            lists = client.get_list_metrics(deployment_name="my_deployment")
            assert [(m["name"], m["value"]) for m in lists] == [
                ("accuracy_list", [0.89, 0.92, 0.95]), ("loss_list", [1.4, 1.2, 1.1, 1.0]),
            ]  # fmt: skip
            assert client.get_list_metrics(execution_id="run-2")[0]["value"] == [math.inf, 0.5]
            with pytest.raises(ValueError, match="only one of"):
                client.get_list_metrics(name="curve", execution_id="run-2")
        with (
            MetricsClient(ClientSettings(token=WRONG_TOKEN, api_url=api_url)) as wrong,
            pytest.raises(ApiAuthError, match="401") as refused,
        ):
            wrong.get_metrics()
        assert refused.value.retriable is False
        assert refused.value.url == f"{api_url}/api/v1/metrics"

    await asyncio.to_thread(query)


async def test_get_command_prints_each_format(
    api_url: str,
    redis_client: aioredis.Redis,
    redis_keys: RedisKeys,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    await _seed(redis_client, redis_keys)
    monkeypatch.setenv("STEPMETRICS_API_URL", api_url)
    monkeypatch.setenv("STEPMETRICS_API_TOKEN", TOKEN)

    async def run(*argv: str) -> str:
        assert await asyncio.to_thread(cli_get.main, list(argv)) == 0
        return capsys.readouterr().out

    as_json = orjson.loads(await run("--pipeline", "my_pipeline", "--format", "json"))
    assert [(m["name"], m["value"]) for m in as_json] == [
        ("accuracy", 0.1409), ("loss", 1 / 3), ("accuracy", "NaN"),
    ]  # fmt: skip
    assert (await run("--execution", "run-2", "--list", "--format", "csv")).splitlines() == [
        "name,index,value,created_at,execution_id,deployment_name,pipeline_name",
        "curve,0,inf,2025-11-24T16:00:00.001001Z,run-2,,my_pipeline",
        "curve,1,0.5,2025-11-24T16:00:00.001001Z,run-2,,my_pipeline",
    ]
    table = (await run("--name", "accuracy")).splitlines()
    assert table[0].split() == ["name", "value", "created_at", "execution_id",
                                "deployment_name", "pipeline_name"]  # fmt: skip
    assert table[1].split() == ["accuracy", "0.1409", "2025-11-24T16:00:00.000000Z", "run-1",
                                "my_deployment", "my_pipeline"]  # fmt: skip
    assert table[2].split()[:2] == ["accuracy", "nan"]
    monkeypatch.setenv("STEPMETRICS_API_TOKEN", "wrong-token-xyz")
    assert await asyncio.to_thread(cli_get.main, ["--list"]) == 1
    assert "answered 401" in capsys.readouterr().err
    # A bad filter value is bad usage (2), refused before any request.
    assert await asyncio.to_thread(cli_get.main, ["--name", ""]) == 2
    assert "name must not be empty" in capsys.readouterr().err


async def test_several_worker_processes_serve_the_api(
    start_api: Callable[..., str], redis_client: aioredis.Redis, redis_keys: RedisKeys
) -> None:
    await _seed(redis_client, redis_keys)
    url = await asyncio.to_thread(start_api, "--workers", "2")

    def query() -> list[str]:
        with MetricsClient(ClientSettings(token=TOKEN, api_url=url)) as client:
            return [m["name"] for m in client.get_metrics(execution_id="run-1")]

    assert await asyncio.to_thread(query) == ["accuracy", "loss"]
