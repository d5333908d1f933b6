"""`stepmetrics export` / `stepmetrics import` between two stacks.

Stack A and stack B share the session's broker (one topic each) but have a
redis-server and a worker each. Steps record through the SDK into A; the
export of A (by execution, by pipeline) is imported into B; what the query
library and the reader API answer about B equals what they answer about A:
every value, every created_at, the order of every list, the executions'
created_at and updated_at. Importing again changes nothing in B, and a file
with a corrupt line is refused before anything is produced.
"""

from __future__ import annotations

import asyncio
import math
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from stepmetrics.producers import Recorder, StepMetricsWarning, step_context
from stepmetrics.sdk import CraftAiSdk
from stepmetrics.stack.services import ManagedProcess
from stepmetrics.store.client import AsyncMetricsClient
from stepmetrics.store.endpoints import EXECUTIONS_PATH, execution_path
from stepmetrics.store.keys import RedisKeys
from stepmetrics.store.settings import ClientSettings
from tests.integration.conftest import Spawn
from tests.support.api import API_TOKEN, api_client, running_api
from tests.support.metrics_state import snapshot
from tests.support.redis_targets import RedisTarget
from tests.support.sdk import read_envelopes, settings_for
from tests.support.services import ServiceFactory, create_topic
from tests.support.worker import REPO, worker_env

PIPELINE = "train:{v2}/ü"
BIG = 50_000
# Execution ids and names with braces, colons, % and non-ASCII text.
MAIN = "exec-{a}:1%/é"
OTHER = "exec-{b}:2"
ELSEWHERE = "exec-3"


@dataclass
class Side:
    """One stack's store as the tests see it: a client, the query library, the API."""

    keys: RedisKeys
    redis: Any
    query: AsyncMetricsClient
    http: httpx.AsyncClient
    env: dict[str, str]  # for `stepmetrics export` / `import` against this stack

    async def state(self) -> dict[str, Any]:
        """Everything the readers answer about PIPELINE, non-finite values as text."""
        executions = await self.http.get(EXECUTIONS_PATH, params={"pipeline_name": PIPELINE})
        details = {}
        for item in executions.json()["items"]:
            detail = (await self.http.get(execution_path(item["execution_id"]))).json()
            details[item["execution_id"]] = {k: v for k, v in detail.items() if k != "dropped"}
        return {
            "executions": executions.json()["items"],
            "details": details,
            "scalars": _text(await self.query.get_metrics(pipeline_name=PIPELINE)),
            "lists": _text(await self.query.get_list_metrics(pipeline_name=PIPELINE)),
        }

    async def counter(self, name: str) -> int:
        return int(await self.redis.hget(self.keys.stats, name) or 0)


def _text(items: list[Any]) -> list[Any]:
    def show(v: Any) -> Any:
        return [show(x) for x in v] if isinstance(v, list) else repr(float(v))

    return [{**item, "value": show(item["value"])} for item in items]


def record_steps(bootstrap: str, topic: str) -> None:
    """Through the SDK: scalars overwritten, non-finite values, lists appended in
    several calls, a 50,000-value list, names with braces, colons and unicode."""
    recorder = Recorder(settings_for(bootstrap, topic))
    sdk = CraftAiSdk(recorder=recorder)
    with step_context(MAIN, PIPELINE, "dep:{1}"):
        for i in range(5):
            sdk.record_metric_value("accuracy", i / 10)
            sdk.record_metric_value("loss {x}:y ü🚀", 1 / (i + 3))
            time.sleep(0.002)
        sdk.record_metric_value("nan", math.nan)
        sdk.record_metric_value("inf", math.inf)
        sdk.record_metric_value("-inf", -math.inf)
        sdk.record_list_metric_values("steps:{a}", [1.5, math.nan, -math.inf])
        sdk.record_list_metric_values("steps:{a}", [math.inf, 2.5])
        sdk.record_list_metric_values("big", [math.sqrt(i) / 3 for i in range(BIG // 2)])
        with pytest.warns(StepMetricsWarning, match="reached 50,000 values"):  # full: said so
            sdk.record_list_metric_values("big", [-math.sqrt(i) for i in range(BIG // 2)])
        sdk.record_list_metric_values("one", [7.0])
        sdk.record_metric_value("accuracy", 0.93)  # the last write: after the lists
    with step_context(OTHER, PIPELINE):
        sdk.record_metric_value("accuracy", 0.5)
        sdk.record_list_metric_values("loss", [3.0, 2.0])
    with step_context(ELSEWHERE, "another pipeline"):
        sdk.record_metric_value("accuracy", 0.1)
    assert recorder.close(30.0)


def cli(command: str, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "stepmetrics.cli", command, *args],
        env={**os.environ, **env}, cwd=REPO, capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip


async def wait_until(check: Any, within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(0.1)


@pytest.fixture
async def stacks(
    broker: ManagedProcess,
    redis_target: RedisTarget,
    redis_factory: ServiceFactory,
    redis_keys: RedisKeys,
    spawn: Spawn,
    unique_name: str,
) -> AsyncIterator[tuple[Side, Side]]:
    """Sides A and B, each with its topic, redis-server and worker running."""
    target_b = RedisTarget(redis_factory().address, cluster=False)
    sides = []
    async with AsyncExitStack() as stack:
        for name, target in (("a", redis_target), ("b", target_b)):
            topic = await create_topic(broker.address, f"{name}-{unique_name}")
            keys = RedisKeys(f"{redis_keys.prefix}-{name}")
            await spawn(worker_env(broker.address, topic, target, keys.prefix, topic), name).start()
            env = {
                **target.env(),
                "STEPMETRICS_REDIS_PREFIX": keys.prefix,
                "STEPMETRICS_KAFKA_BOOTSTRAP": broker.address,
                "STEPMETRICS_TOPIC": topic,
            }
            app = await stack.enter_async_context(running_api(target, keys.prefix, API_TOKEN))
            transport = httpx.ASGITransport(app=app)
            settings = ClientSettings(token=API_TOKEN, api_url="http://api")
            query = await stack.enter_async_context(
                AsyncMetricsClient(settings, transport=transport)
            )
            http = await stack.enter_async_context(api_client(app, API_TOKEN))
            redis = target.client()
            stack.push_async_callback(redis.aclose)
            sides.append(Side(keys, redis, query, http, env))
        yield sides[0], sides[1]


async def test_export_then_import_recreates_the_state_and_twice_changes_nothing(
    stacks: tuple[Side, Side], broker: ManagedProcess, tmp_path: Path
) -> None:
    a, b = stacks
    env_a, env_b = a.env, b.env
    await asyncio.to_thread(record_steps, broker.address, env_a["STEPMETRICS_TOPIC"])

    async def a_complete() -> bool:
        lists = {m["name"]: m for m in (await a.state())["lists"]}
        return len(lists.get("big", {}).get("value", [])) == BIG and "loss" in lists

    await wait_until(a_complete, 60, "stack A to hold what the steps recorded")
    expected = await a.state()
    assert [e["execution_id"] for e in expected["executions"]] == [OTHER, MAIN]

    by_pipeline, by_execution = tmp_path / "pipeline.jsonl", tmp_path / "main.jsonl"
    done = cli("export", "--pipeline", PIPELINE, "-o", str(by_pipeline), env=env_a)
    assert done.returncode == 0, done.stderr
    assert "2 execution(s)" in done.stderr
    done = cli("export", "--execution", MAIN, "-o", str(by_execution), env=env_a)
    assert done.returncode == 0, done.stderr
    unknown = cli("export", "--execution", "exec-nobody", "-o", str(tmp_path / "x"), env=env_a)
    assert unknown.returncode == 1
    assert "execution 'exec-nobody' is not in the store" in unknown.stderr
    lines = by_pipeline.read_bytes().splitlines()
    # The 50,000-value list needs 2 envelopes of at most 900,000 bytes.
    assert len(lines) >= 3
    assert max(map(len, lines)) <= 900_000
    # The execution's export is the same envelopes as its part of the pipeline's.
    assert set(by_execution.read_bytes().splitlines()) < set(lines)

    done = cli("import", str(by_pipeline), env=env_b)
    assert done.returncode == 0, done.stderr
    assert f"{len(lines)} of {len(lines)} envelope(s) acknowledged" in done.stderr

    async def b_matches() -> bool:
        return await b.state() == expected

    await wait_until(b_matches, 60, "stack B to answer as stack A does")
    before = await snapshot(b.redis, b.keys.prefix)
    assert await b.counter("envelopes_applied") == len(lines)

    for again in (by_pipeline, by_execution):
        done = cli("import", str(again), env=env_b)
        assert done.returncode == 0, done.stderr
    replayed = len(lines) + len(by_execution.read_bytes().splitlines())

    async def replay_seen() -> bool:
        return await b.counter("duplicates_skipped") == replayed

    await wait_until(replay_seen, 60, "stack B's worker to skip the second imports")
    assert await b.counter("envelopes_applied") == len(lines)
    assert await snapshot(b.redis, b.keys.prefix) == before
    assert await b.state() == expected


async def test_a_corrupt_line_refuses_the_file(
    broker: ManagedProcess, unique_name: str, tmp_path: Path
) -> None:
    topic = await create_topic(broker.address, f"corrupt-{unique_name}")
    env = {"STEPMETRICS_KAFKA_BOOTSTRAP": broker.address, "STEPMETRICS_TOPIC": topic}
    good = (
        b'{"v":1,"pid":"export-1","seq":%d,"eid":"e","pipe":"p","dep":null,"ev":[["s","a",1,%d]]}'
    )
    path = tmp_path / "corrupt.jsonl"
    path.write_bytes(b"\n".join([good % (1, 1), good % (2, 2), b'{"v":1,"pid":', good % (3, 3)]))
    done = cli("import", str(path), env=env)
    assert done.returncode == 1
    assert "line 3: not JSON" in done.stderr
    assert "nothing was produced" in done.stderr
    # With --skip-invalid the three good lines go out and the bad one is counted.
    done = cli("import", "--skip-invalid", str(path), env=env)
    assert done.returncode == 0, done.stderr
    assert "3 of 3 envelope(s) acknowledged" in done.stderr
    assert "1 invalid skipped" in done.stderr
    assert "skipped line 3: not JSON" in done.stderr
    # The topic holds exactly the good envelopes of the second import, in order.
    envelopes = await read_envelopes(broker.address, topic, lambda got: len(got) >= 3)
    assert [e.seq for e in envelopes] == [1, 2, 3]
