"""`stepmetrics up` as a user runs it: a subprocess, real broker, real redis-server."""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit

import httpx
import pytest
import redis.asyncio as aioredis
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from redis.exceptions import AuthenticationError

from stepmetrics.envvars import redact
from stepmetrics.stack.apps import API, WORKER
from stepmetrics.stack.services import free_port
from stepmetrics.stack.state import read_state
from tests.support.processes import run_cli
from tests.support.prometheus import families

READY_WITHIN = 20.0
READY_PREFIX = "stepmetrics ready: "


@dataclass
class Up:
    proc: subprocess.Popen[str]
    data_dir: Path
    stderr_path: Path
    lines: queue.Queue[str]

    def ready(self, within: float = READY_WITHIN) -> dict[str, str]:
        """Wait for the ready line; return its key=value pairs."""
        deadline = time.monotonic() + within
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                break
            if line.startswith(READY_PREFIX):
                pairs = line[len(READY_PREFIX) :].split()
                return dict(pair.split("=", 1) for pair in pairs)
        pytest.fail(f"no ready line within {within}s; stderr:\n{self.stderr()}")

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")


def _ports() -> list[int]:
    """Four distinct free ports (a port is only free until someone binds it)."""
    socks = [socket.socket() for _ in range(4)]
    for sock in socks:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in socks]
    for sock in socks:
        sock.close()
    return ports


def _pump(stream: IO[str], lines: queue.Queue[str]) -> None:
    for line in stream:
        lines.put(line)


@pytest.fixture
def up(tmp_path: Path) -> Iterator[Up]:
    kafka_port, redis_port, api_port, metrics_port = _ports()
    env = {k: v for k, v in os.environ.items() if not k.startswith("STEPMETRICS_")}
    stderr_path = tmp_path / "up.stderr"
    argv = [sys.executable, "-m", "stepmetrics.cli", "up", "--data-dir", str(tmp_path / "data")]
    argv += ["--kafka-port", str(kafka_port), "--redis-port", str(redis_port)]
    argv += ["--api-port", str(api_port), "--worker-metrics-port", str(metrics_port)]
    with stderr_path.open("w") as stderr:
        proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=stderr, text=True, env=env, cwd=tmp_path
        )
    lines: queue.Queue[str] = queue.Queue()
    stdout = proc.stdout
    assert stdout is not None
    threading.Thread(target=_pump, args=(stdout, lines), daemon=True).start()
    handle = Up(proc, tmp_path / "data", stderr_path, lines)
    yield handle
    if proc.poll() is None:  # a failed test must not leave the stack running
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    stdout.close()


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


async def _kafka_answers(bootstrap: str, topic: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = {t["topic"]: len(t["partitions"]) for t in await admin.describe_topics()}
    finally:
        await admin.close()
    assert described[topic] == 4
    assert described[f"{topic}.deadletter"] == 4
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"ping", key=b"e1")
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    try:
        batch = await consumer.getmany(timeout_ms=5000)
    finally:
        await consumer.stop()
    assert [r.value for records in batch.values() for r in records] == [b"ping"]


async def _worker_metrics_answer(url: str) -> None:
    """The worker serves its Prometheus metrics on loopback at the URL `up` printed."""
    assert urlsplit(url).hostname == "127.0.0.1"
    assert urlsplit(url).path == "/metrics"
    async with httpx.AsyncClient(trust_env=False) as client:
        response = await client.get(url)
    assert response.status_code == 200
    assert families(response.text)["stepmetrics_worker_messages"] == "counter"


async def _redis_answers(url: str) -> None:
    client = aioredis.Redis.from_url(url)
    try:
        assert await client.ping()
        await client.set("stepmetrics-test:up", "1")
        assert await client.get("stepmetrics-test:up") == b"1"
        assert (await client.info("persistence"))["aof_enabled"] == 1
    finally:
        await client.aclose()


def _env_exports(data_dir: Path) -> dict[str, str]:
    """Run `stepmetrics env`, evaluate its output in sh, return what it exported."""
    exports = run_cli(["env", "--data-dir", str(data_dir)], check=True, timeout=30).stdout
    shown = subprocess.run(
        ["sh", "-c", exports + "env"], capture_output=True, text=True, check=True, env={}
    ).stdout
    return dict(
        line.split("=", 1) for line in shown.splitlines() if line.startswith("STEPMETRICS_")
    )


def _second_up_is_refused(data_dir: Path) -> None:
    second = run_cli(["up", "--data-dir", str(data_dir)], timeout=60)
    assert second.returncode == 1
    assert "a stack is already running from" in second.stderr
    assert (data_dir / "stack.json").exists()  # the running stack's state survives


async def test_up_ready_answers_and_stops_clean(up: Up) -> None:
    started = time.monotonic()
    pairs = up.ready()
    ready_s = time.monotonic() - started
    assert ready_s < READY_WITHIN
    assert set(pairs) >= {"kafka", "redis", "token"}
    assert len(pairs["token"]) >= 16
    assert ("api" in pairs) == API.installed()
    assert ("worker_metrics" in pairs) == WORKER.installed()
    if "worker_metrics" in pairs:
        await _worker_metrics_answer(pairs["worker_metrics"])
    if "api" in pairs:
        async with httpx.AsyncClient(trust_env=False) as client:
            response = await client.get(pairs["api"] + "/healthz")
        assert response.status_code == 200
    await _kafka_answers(pairs["kafka"], "stepmetrics.events")
    # The ready line shows the Redis URL without its password; the state file
    # (0600) and `stepmetrics env` hold the whole URL.
    redis_url = read_state(up.data_dir).redis
    assert pairs["redis"] == redact(redis_url)
    await _redis_answers(redis_url)

    _second_up_is_refused(up.data_dir)
    exports = _env_exports(up.data_dir)
    assert exports["STEPMETRICS_KAFKA_BOOTSTRAP"] == pairs["kafka"]
    assert exports["STEPMETRICS_API_TOKEN"] == pairs["token"]
    assert exports["STEPMETRICS_TOPIC"] == "stepmetrics.events"
    assert exports.get("STEPMETRICS_API_URL") == pairs.get("api")

    state = read_state(up.data_dir)
    assert state.kafka == pairs["kafka"]
    assert state.token == pairs["token"]
    assert {"broker", "redis"} <= set(state.children)
    ports = [int(pairs["kafka"].rsplit(":", 1)[1]), urlsplit(pairs["redis"]).port or 0]
    if state.api:
        ports.append(urlsplit(state.api).port or 0)
    if state.worker_metrics:
        ports.append(urlsplit(state.worker_metrics).port or 0)

    up.proc.send_signal(signal.SIGTERM)
    assert up.proc.wait(30) == 0, up.stderr()
    assert all(_gone(pid) for pid in state.children.values()), state.children
    assert not any(_listening(port) for port in ports)
    assert not (up.data_dir / "stack.json").exists()


async def test_up_locks_its_redis_and_data_down(up: Up) -> None:
    pairs = up.ready()
    state = read_state(up.data_dir)
    password = urlsplit(state.redis).password
    assert password
    assert len(password) >= 24
    # Without the password the embedded redis-server refuses every command.
    parts = urlsplit(state.redis)
    anonymous = aioredis.Redis(host=parts.hostname or "", port=parts.port or 0)
    try:
        with pytest.raises(AuthenticationError):
            await anonymous.ping()
    finally:
        await anonymous.aclose()
    # The password is on no process's command line; it reaches the worker and
    # the API through their environment, and `stepmetrics env` exports it.
    for pid in state.children.values():
        assert password.encode() not in _proc(pid, "cmdline"), pid
    for name in ("worker", "api"):
        if name in state.children:
            environ = _proc(state.children[name], "environ").split(b"\0")
            assert f"STEPMETRICS_REDIS_URL={state.redis}".encode() in environ
    assert _env_exports(up.data_dir)["STEPMETRICS_REDIS_URL"] == state.redis
    assert password not in " ".join(pairs.values())  # the ready line redacts it
    # Owner only: the data directory, every directory under it 0700, every file 0600.
    assert _mode(up.data_dir) == 0o700
    for path in up.data_dir.rglob("*"):
        if path.is_symlink():
            continue
        expected = 0o700 if path.is_dir() else 0o600
        assert _mode(path) & 0o077 == 0, (path, oct(_mode(path)))
        if path.is_dir() or path.name in ("stack.json", "redis.conf"):
            assert _mode(path) == expected, (path, oct(_mode(path)))
    assert (up.data_dir / "redis" / "redis.conf").read_text() == f"requirepass {password}\n"
    assert password not in up.stderr()  # the logs show the URL redacted


def _proc(pid: int, name: str) -> bytes:
    return Path(f"/proc/{pid}/{name}").read_bytes()


def _mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_up_reports_a_dead_child(up: Up) -> None:
    up.ready()
    state = read_state(up.data_dir)
    os.kill(state.children["redis"], signal.SIGKILL)
    code = up.proc.wait(30)
    stderr = up.stderr()
    assert code == 1, stderr
    assert "redis exited with code -9 (SIGKILL)" in stderr
    # The tail of redis's own log, which says it started.
    assert "Ready to accept connections" in stderr
    assert all(_gone(pid) for pid in state.children.values())
    assert not _listening(int(state.kafka.rsplit(":", 1)[1]))


def test_up_refuses_a_busy_port(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STEPMETRICS_")}
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", free_port()))
        busy.listen()
        port = busy.getsockname()[1]
        argv = [sys.executable, "-m", "stepmetrics.cli", "up", "--data-dir", str(tmp_path)]
        result = subprocess.run(
            [*argv, "--kafka-port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env=env,
        )
    assert result.returncode == 1
    assert f"kafka port {port} on 127.0.0.1 is already in use" in result.stderr


def test_killed_up_leaves_no_orphans(up: Up) -> None:
    up.ready()
    state = read_state(up.data_dir)
    up.proc.kill()  # no chance to clean up: the children must go by themselves
    up.proc.wait(10)
    deadline = time.monotonic() + 10
    try:
        while not all(_gone(pid) for pid in state.children.values()):
            assert time.monotonic() < deadline, f"orphans left: {state.children}"
            time.sleep(0.05)
    finally:
        for pid in state.children.values():  # never leak them, even when failing
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    assert not _listening(int(state.kafka.rsplit(":", 1)[1]))
