"""The reader API against its own OpenAPI document (schemathesis).

A real `stepmetrics api` (uvicorn) over the session's real redis-server with
seeded executions; schemathesis generates requests from `/openapi.json` and
checks every answer: no server error, status codes and content types the
document lists, bodies that match its schemas, every request the document
allows accepted (positive_data_acceptance), every one it forbids refused
(negative_data_rejection), and no answer without the token (ignored_auth).
"""

from __future__ import annotations

import asyncio
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import redis.asyncio as aioredis

from stepmetrics.stack.apps import API, api_ready
from stepmetrics.stack.services import ManagedProcess, free_port
from stepmetrics.store.keys import RedisKeys
from tests.support.seed import seed_execution

TOKEN = "schema-test-token-0123456789"  # noqa: S105 (a test token)
ADMIN_TOKEN = "schema-test-admin-token-0123456789"  # noqa: S105 (never sent by schemathesis)
T0 = 1_764_000_000_000_000
CHECKS = (
    "not_a_server_error,status_code_conformance,content_type_conformance,"
    "response_schema_conformance,positive_data_acceptance,negative_data_rejection,ignored_auth"
)
# ~20 s on 2 cores; 300 (about 1,800 requests, ~50 s) found nothing more.
MAX_EXAMPLES = "100"
# A fixed seed: the same requests every run, so CI cannot flake. Unseeded runs
# once produced a false "schema-violating request accepted": a filter object
# with an extra property whose value serializes to nothing in an exploded
# query (`?deployment_name=0` reached the API, a valid request). Change the
# seed, or drop it locally, to explore other requests.
SEED = "20261201"


async def _seed(redis: aioredis.Redis, keys: RedisKeys) -> None:
    await seed_execution(
        redis, keys, "run-1", pipeline_name="my_pipeline", deployment_name="my_deployment",
        created_us=T0, scalars={"accuracy": 0.1409, "nan": math.nan},
        lists={"loss_list": [1.4, math.inf, 1.1]}, dropped={"loss_list": 2},
    )  # fmt: skip
    await seed_execution(
        redis, keys, "a/b c", pipeline_name="other", created_us=T0 + 1,
        scalars={"=x": -1.5}, lists={"curve/1": [0.5]},
    )  # fmt: skip


def _start_api(redis_url: str, prefix: str, workdir: Path) -> tuple[ManagedProcess, str]:
    url = f"http://127.0.0.1:{free_port()}"
    env = {
        **os.environ,
        "STEPMETRICS_API_TOKEN": TOKEN,
        # Deleting is on, but schemathesis sends the read token only: every
        # DELETE it makes must be refused (403), so the seeded data survives.
        "STEPMETRICS_API_ADMIN_TOKEN": ADMIN_TOKEN,
        "STEPMETRICS_REDIS_URL": redis_url,
        "STEPMETRICS_REDIS_PREFIX": prefix,
        "STEPMETRICS_API_HOST": "127.0.0.1",
        "STEPMETRICS_API_PORT": url.rsplit(":", 1)[1],
    }
    api = API.start(workdir, url, env)
    deadline = time.monotonic() + 30
    while not api_ready(api):
        if not api.alive() or time.monotonic() > deadline:
            api.stop()
            raise AssertionError(f"the API did not get ready:\n{api.log_tail(40)}")
        time.sleep(0.05)
    return api, url


def _schemathesis(url: str, workdir: Path) -> subprocess.CompletedProcess[str]:
    command = [
        str(Path(sys.executable).with_name("schemathesis")), "run", f"{url}/openapi.json",
        "--header", f"Authorization: Bearer {TOKEN}", "--checks", CHECKS,
        "--max-examples", MAX_EXAMPLES, "--workers", "2", "--seed", SEED,
        "--phases", "examples,coverage,fuzzing", "--request-timeout", "10",
        "--no-color", "--continue-on-failure",
    ]  # fmt: skip
    env = {**os.environ, "NO_PROXY": "*"}
    return subprocess.run(
        command, capture_output=True, text=True, timeout=110, cwd=workdir, env=env, check=False
    )


async def test_api_conforms_to_its_openapi_document(
    redis_server: ManagedProcess, redis_client: aioredis.Redis, redis_keys: RedisKeys,
    tmp_path: Path,
) -> None:  # fmt: skip
    await _seed(redis_client, redis_keys)
    api, url = await asyncio.to_thread(
        _start_api, redis_server.address, redis_keys.prefix, tmp_path
    )
    try:
        done = await asyncio.to_thread(_schemathesis, url, tmp_path)
    finally:
        api.stop()
    assert done.returncode == 0, done.stdout[-12_000:] + done.stderr[-2000:]
    assert " passed" in done.stdout
    assert "Traceback" not in api.log_tail(200)
    # The read token deleted nothing.
    assert await redis_client.exists(redis_keys.meta("run-1"), redis_keys.meta("a/b c")) == 2
