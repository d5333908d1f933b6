"""`stepmetrics delete` as a user runs it (a subprocess) against a real reader
API process (uvicorn) over the session's real redis-server."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from stepmetrics.cli.exit_codes import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from stepmetrics.processors.writes.writer import MetricsWriter
from stepmetrics.producers.events import Envelope
from stepmetrics.stack.apps import API, api_ready
from stepmetrics.stack.services import ManagedProcess, free_port
from stepmetrics.store.connection import RedisClient
from stepmetrics.store.endpoints import execution_path
from stepmetrics.store.keys import RedisKeys
from tests.support.api import ADMIN_TOKEN, API_TOKEN
from tests.support.worker import T


@pytest.fixture
def api(redis_server: ManagedProcess, redis_keys: RedisKeys, tmp_path: Path) -> Iterator[str]:
    url = f"http://127.0.0.1:{free_port()}"
    env = {
        **os.environ,
        "STEPMETRICS_API_TOKEN": API_TOKEN,
        "STEPMETRICS_API_ADMIN_TOKEN": ADMIN_TOKEN,
        "STEPMETRICS_REDIS_URL": redis_server.address,
        "STEPMETRICS_REDIS_PREFIX": redis_keys.prefix,
        "STEPMETRICS_API_HOST": "127.0.0.1",
        "STEPMETRICS_API_PORT": url.rsplit(":", 1)[1],
    }
    process = API.start(tmp_path, url, env)
    deadline = time.monotonic() + 30
    while not api_ready(process):
        if not process.alive() or time.monotonic() > deadline:
            process.stop()
            raise AssertionError(f"the API did not get ready:\n{process.log_tail(40)}")
        time.sleep(0.05)
    yield url
    process.stop()


def delete(
    url: str, execution: str, *flags: str, token: str | None = ADMIN_TOKEN
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STEPMETRICS_")}
    env["STEPMETRICS_API_URL"] = url
    if token is not None:
        env["STEPMETRICS_API_ADMIN_TOKEN"] = token
    return subprocess.run(
        [sys.executable, "-m", "stepmetrics.cli", "delete", "--execution", execution, *flags],
        env=env,
        stdin=subprocess.DEVNULL,  # not a terminal
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def status_of(url: str, execution: str) -> int:
    headers = {"authorization": f"Bearer {API_TOKEN}"}
    with httpx.Client(base_url=url, headers=headers, trust_env=False) as client:
        return client.get(execution_path(execution)).status_code


async def test_delete_with_yes_refusals_and_not_found(
    api: str, redis_client: RedisClient, redis_keys: RedisKeys
) -> None:
    envelope = Envelope("p", 0, "run/1", "train", None, [("s", "acc", T, 0.5)])
    await MetricsWriter(redis_client, redis_keys).apply([envelope])

    unconfirmed = delete(api, "run/1")
    assert unconfirmed.returncode == EXIT_USAGE
    assert "stdin is not a terminal; pass --yes" in unconfirmed.stderr
    reader = delete(api, "run/1", "--yes", token=API_TOKEN)
    assert reader.returncode == EXIT_FAILED
    assert "403" in reader.stderr
    assert "only read" in reader.stderr
    missing = delete(api, "run/1", "--yes", token=None)
    assert missing.returncode == EXIT_USAGE
    assert "STEPMETRICS_API_ADMIN_TOKEN is not set" in missing.stderr
    assert status_of(api, "run/1") == 200

    done = delete(api, "run/1", "--yes")
    assert (done.returncode, done.stdout) == (EXIT_OK, "deleted execution 'run/1'\n")
    assert status_of(api, "run/1") == 404
    again = delete(api, "run/1", "--yes")
    assert again.returncode == EXIT_FAILED
    assert "not found (or deleted before)" in again.stderr
