"""TEST-ONLY: a whole stepmetrics stack for the browser tests.

The session's real broker and redis-server (harness fixtures), plus the real
worker (`stepmetrics worker`) and reader API with its web interface
(`stepmetrics api`) as subprocesses, and step processes that record through
the SDK exactly as step code does.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from stepmetrics.producers.security import KafkaSecurity
from stepmetrics.stack.apps import API, WORKER, api_ready, worker_ready
from stepmetrics.stack.services import ManagedProcess, free_port
from tests.support.redis_targets import RedisTarget
from tests.support.services import create_topic

TOKEN = "browser-test-token-0123456789"  # noqa: S105 (a test token)
# The child processes get only what they need, plus what Python itself needs.
_KEEP = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")


@dataclass
class WebStack:
    """Addresses of the running stack and its processes."""

    api: str
    kafka: str
    topic: str
    redis: str
    prefix: str
    processes: list[ManagedProcess]
    kafka_env: Mapping[str, str] = field(default_factory=dict)  # TLS / SASL variables

    def step(self, execution_id: str, code: str, *, pipeline: str, deployment: str) -> None:
        """Run `code` as a step process of `execution_id` (it must flush itself)."""
        env = (
            _base_env()
            | dict(self.kafka_env)
            | {
                "STEPMETRICS_KAFKA_BOOTSTRAP": self.kafka,
                "STEPMETRICS_TOPIC": self.topic,
                "STEPMETRICS_EXECUTION_ID": execution_id,
                "STEPMETRICS_PIPELINE_NAME": pipeline,
                "STEPMETRICS_DEPLOYMENT_NAME": deployment,
            }
        )
        done = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, timeout=90, check=False
        )
        if done.returncode != 0:
            raise AssertionError(f"step failed ({done.returncode}): {done.stderr.decode()[-2000:]}")

    def run_demo(self, args: list[str]) -> str:
        """Run `stepmetrics demo` against this stack; return its stdout."""
        env = _base_env() | {
            "STEPMETRICS_KAFKA_BOOTSTRAP": self.kafka,
            "STEPMETRICS_TOPIC": self.topic,
            "STEPMETRICS_API_URL": self.api,
            "STEPMETRICS_API_TOKEN": TOKEN,
        }
        done = subprocess.run(
            [sys.executable, "-m", "stepmetrics.cli", "demo", *args],
            env=env,
            capture_output=True,
            timeout=90,
            check=False,
        )
        if done.returncode != 0:
            raise AssertionError(f"demo failed ({done.returncode}): {done.stderr.decode()[-2000:]}")
        return done.stdout.decode()

    def wait_for(
        self, execution_id: str, ready: Callable[[dict[str, Any]], bool], timeout: float = 60
    ) -> dict[str, Any]:
        """Poll the API until the execution's document satisfies `ready`."""
        deadline = time.monotonic() + timeout
        doc: dict[str, Any] = {}
        headers = {"Authorization": f"Bearer {TOKEN}"}
        with httpx.Client(base_url=self.api, headers=headers, trust_env=False) as client:
            while time.monotonic() < deadline:
                response = client.get(f"/api/v1/executions/{execution_id}")
                if response.status_code == 200:
                    doc = response.json()
                    if ready(doc):
                        return doc
                time.sleep(0.1)
        logs = "\n".join(p.log_tail(30) for p in self.processes)
        raise AssertionError(f"{execution_id} not ready in {timeout}s: {doc!r:.500}\n{logs}")

    def stop(self) -> None:
        for process in self.processes:
            process.stop()


def _base_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k in _KEEP}


def _wait(process: ManagedProcess, ready: Callable[[ManagedProcess], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not ready(process):
        if not process.alive() or time.monotonic() > deadline:
            tail = process.log_tail(40)
            process.stop()
            raise AssertionError(f"{process.name} did not get ready:\n{tail}")
        time.sleep(0.05)


def start_web_stack(
    workdir: Path, kafka: str, redis: RedisTarget, kafka_env: Mapping[str, str] | None = None
) -> WebStack:
    """Start a worker and an API on a fresh topic and key prefix.

    `kafka_env`: the Kafka security variables (TLS, SASL) of the topic
    creation, the worker and the steps.
    """
    kafka_env = dict(kafka_env or {})
    tag = uuid.uuid4().hex[:8]
    security = KafkaSecurity.from_env(kafka_env)
    topic = asyncio.run(create_topic(kafka, f"metrics-web-{tag}", security=security))
    prefix = f"t-web-{tag}"
    port = free_port()
    api_url = f"http://127.0.0.1:{port}"
    env = (
        _base_env()
        | kafka_env
        | {
            "STEPMETRICS_KAFKA_BOOTSTRAP": kafka,
            "STEPMETRICS_TOPIC": topic,
            **redis.env(),
            "STEPMETRICS_REDIS_PREFIX": prefix,
            "STEPMETRICS_WORKER_GROUP": f"web-{tag}",
            "STEPMETRICS_WORKER_DATADIR": str(workdir / "worker-data"),
            "STEPMETRICS_WORKER_METRICS_PORT": "0",
            "STEPMETRICS_KAFKA_SESSION_TIMEOUT": "4",
            "STEPMETRICS_API_TOKEN": TOKEN,
            "STEPMETRICS_API_HOST": "127.0.0.1",
            "STEPMETRICS_API_PORT": str(port),
        }
    )
    worker = WORKER.start(workdir, kafka, env)
    api = API.start(workdir, api_url, env)
    stack = WebStack(api_url, kafka, topic, redis.url, prefix, [worker, api], kafka_env)
    try:
        _wait(api, api_ready, 30)
        _wait(worker, worker_ready, 60)
    except BaseException:
        stack.stop()
        raise
    return stack
