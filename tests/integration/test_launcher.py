"""The launcher with stand-in worker/API processes, on the harness's external services.

The stand-ins speak the same readiness contract as the real worker (a ready
line) and API (`GET /healthz`), and read the same STEPMETRICS_* variables, so
these tests pin down supervision independently of those components.
"""

from __future__ import annotations

import queue
import sys
import threading
from pathlib import Path

import httpx
import pytest
from aiokafka.admin import AIOKafkaAdminClient

from stepmetrics.processors.ready import WORKER_READY
from stepmetrics.stack.apps import App, api_ready, worker_ready
from stepmetrics.stack.errors import StackError
from stepmetrics.stack.launcher import ChildDied, Launcher, Ports
from stepmetrics.stack.services import ManagedProcess
from stepmetrics.stack.settings import StackSettings
from stepmetrics.stack.state import StackState

FAKE_API = """
import http.server, os
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/healthz" else 404)
        self.end_headers()
        self.wfile.write(os.environ["STEPMETRICS_REDIS_URL"].encode())
address = (os.environ["STEPMETRICS_API_HOST"], int(os.environ["STEPMETRICS_API_PORT"]))
http.server.HTTPServer(address, Handler).serve_forever()
"""
FAKE_WORKER = f"""
import os, time
time.sleep(0.3)
print({WORKER_READY!r}, "on", os.environ["STEPMETRICS_KAFKA_BOOTSTRAP"],
      os.environ["STEPMETRICS_TOPIC"], os.environ["STEPMETRICS_DEADLETTER_TOPIC"])
time.sleep(3600)
"""


def _app(name: str, script: str) -> App:
    ready = api_ready if name == "api" else worker_ready
    return App(name, name, ready, launch=(sys.executable, "-c", script))


def _settings(
    broker: ManagedProcess, redis: ManagedProcess, tmp: Path, topic: str, timeout: float = 10.0
) -> StackSettings:
    return StackSettings(
        kafka_bootstrap=broker.address,
        redis_url=redis.address,
        topic=topic,
        topic_partitions=2,
        data_dir=tmp,
        startup_timeout=timeout,
    )


async def test_runs_apps_until_stopped(
    broker: ManagedProcess, redis_server: ManagedProcess, tmp_path: Path, unique_name: str
) -> None:
    settings = _settings(broker, redis_server, tmp_path, f"m-{unique_name}")
    apps = [_app("worker", FAKE_WORKER), _app("api", FAKE_API)]
    launcher = Launcher(settings, Ports(), apps)
    states: queue.Queue[StackState] = queue.Queue()
    result: list[int] = []
    thread = threading.Thread(target=lambda: result.append(launcher.run(states.put)))
    thread.start()
    try:
        state = states.get(timeout=20)
        assert state.api is not None
        async with httpx.AsyncClient(trust_env=False) as client:
            response = await client.get(state.api + "/healthz")
        assert (response.status_code, response.text) == (200, redis_server.address)
        worker_log = (tmp_path / "worker" / "worker.log").read_text()
        assert f"{broker.address} {settings.topic} {settings.topic}.deadletter" in worker_log
        assert state.kafka == broker.address
        assert state.redis == redis_server.address
        assert set(state.children) == {"worker", "api"}  # external broker and redis
    finally:
        launcher.stopping = True
        thread.join(10)
        launcher.shutdown()
    assert result == [0]
    assert all(child.proc.returncode is not None for child in launcher.children)
    assert not (tmp_path / "stack.json").exists()

    admin = AIOKafkaAdminClient(bootstrap_servers=broker.address)
    await admin.start()
    try:
        topics = {t["topic"]: len(t["partitions"]) for t in await admin.describe_topics()}
    finally:
        await admin.close()
    assert topics[settings.topic] == 2
    assert topics[settings.deadletter_topic] == 2


def test_a_dying_app_fails_the_start_with_its_log(
    broker: ManagedProcess, redis_server: ManagedProcess, tmp_path: Path, unique_name: str
) -> None:
    settings = _settings(broker, redis_server, tmp_path, f"m-{unique_name}")
    dying = _app("worker", "import sys; print('boom: no faust'); sys.exit(3)")
    launcher = Launcher(settings, Ports(), [dying, _app("api", FAKE_API)])
    try:
        with pytest.raises(ChildDied, match=r"worker exited with code 3(.|\n)*boom: no faust"):
            launcher.run(lambda state: None)
    finally:
        launcher.shutdown()
    assert all(not child.alive() for child in launcher.children)


def test_an_app_that_never_answers_times_out(
    broker: ManagedProcess, redis_server: ManagedProcess, tmp_path: Path, unique_name: str
) -> None:
    settings = _settings(broker, redis_server, tmp_path, f"m-{unique_name}", timeout=1.0)
    mute = _app("worker", "import time; print('joining group'); time.sleep(3600)")
    launcher = Launcher(settings, Ports(), [mute])
    try:
        with pytest.raises(StackError, match=r"worker did not become ready(.|\n)*joining group"):
            launcher.run(lambda state: None)
    finally:
        launcher.shutdown()
    assert not launcher.children[0].alive()


def test_stop_while_starting_returns_zero_without_ready(
    broker: ManagedProcess, redis_server: ManagedProcess, tmp_path: Path, unique_name: str
) -> None:
    settings = _settings(broker, redis_server, tmp_path, f"m-{unique_name}")
    mute = _app("worker", "import time; time.sleep(3600)")
    launcher = Launcher(settings, Ports(), [mute])
    announced: list[StackState] = []
    threading.Timer(1.0, lambda: setattr(launcher, "stopping", True)).start()
    try:
        assert launcher.run(announced.append) == 0
    finally:
        launcher.shutdown()
    assert announced == []
    assert [child.proc.returncode for child in launcher.children] == [-15]  # SIGTERM
    assert not (tmp_path / "stack.json").exists()
