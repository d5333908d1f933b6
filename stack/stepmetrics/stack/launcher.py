"""Start, watch and stop the processes of the local stack.

Order: broker, redis-server (each unless an external one is configured), the
topics, then the worker and the reader API. Stop: the reverse order, so the
worker leaves its consumer group while the broker still answers.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from stepmetrics.envvars import redact
from stepmetrics.processors.errors import TopicSetupError
from stepmetrics.processors.settings import (
    DATADIR,
    DEADLETTER_TOPIC,
    METRICS_HOST,
    METRICS_PATH,
    METRICS_PORT,
    TOPIC_PARTITIONS,
)
from stepmetrics.processors.topics import create_missing_topics
from stepmetrics.producers.settings import BOOTSTRAP, TOPIC
from stepmetrics.stack.apps import APPS, App
from stepmetrics.stack.errors import StackError
from stepmetrics.stack.services import (
    LOOPBACK,
    ManagedProcess,
    free_port,
    start_broker,
    start_redis,
)
from stepmetrics.stack.settings import StackSettings
from stepmetrics.stack.state import (
    StackState,
    check_owner,
    read_state,
    remove_state,
    state_path,
    write_state,
)
from stepmetrics.store.connection import (
    REDIS_CLUSTER,
    REDIS_SSL_CAFILE,
    REDIS_SSL_CERTFILE,
    REDIS_SSL_KEYFILE,
    REDIS_URL,
)
from stepmetrics.store.settings import API_HOST, API_PORT, API_TOKEN, API_URL

logger = logging.getLogger(__name__)

KAFKA_PORT = 9092
REDIS_PORT = 6379
_POLL = 0.1
REDIS_EMBEDDED_UNSET = tuple(
    var.name for var in (REDIS_CLUSTER, REDIS_SSL_CAFILE, REDIS_SSL_CERTFILE, REDIS_SSL_KEYFILE)
)


@dataclass(frozen=True, slots=True)
class Ports:
    """Ports asked for on the command line; None: the standard one when free."""

    kafka: int | None = None
    redis: int | None = None
    api: int | None = None
    worker_metrics: int | None = None


class ChildDied(StackError):
    """A child process of the stack exited on its own."""

    def __init__(self, child: ManagedProcess) -> None:
        code = child.proc.returncode
        super().__init__(
            f"{child.name} exited with code {code}{_signal_name(code)}; "
            f"last lines of {child.log_path}:\n{child.log_tail()}"
        )
        self.child = child


def _signal_name(returncode: int) -> str:
    try:
        return f" ({signal.Signals(-returncode).name})" if returncode < 0 else ""
    except ValueError:  # a signal without a name
        return ""


def pick_port(asked: int | None, standard: int, what: str) -> int:
    """`asked` if given (it must be free), else `standard` when free, else any free one."""
    if asked is None:
        return free_port(standard)
    if free_port(asked) != asked:
        raise StackError(f"{what} port {asked} on {LOOPBACK} is already in use")
    return asked


class Launcher:
    """Runs one local stack; `stopping` is polled, so a signal handler may set it."""

    def __init__(self, settings: StackSettings, ports: Ports, apps: Sequence[App] = APPS) -> None:
        self.settings = settings
        self.ports = ports
        self.apps = tuple(apps)
        self.data_dir = settings.data_dir.resolve()
        self.children: list[ManagedProcess] = []
        self.state: StackState | None = None  # set once ready and written
        self.stopping = False

    def run(self, on_ready: Callable[[StackState], None]) -> int:
        """Start everything, call `on_ready`, then watch until stopped or a child dies.

        Returns 0 once stopped. Raises StackError (ChildDied included) on failure.
        """
        state = self._start()
        if state is None:
            return 0
        write_state(self.data_dir, state)
        self.state = state
        on_ready(state)
        while not self.stopping:
            self._check_children()
            time.sleep(_POLL)
        return 0

    def _start(self) -> StackState | None:
        """Start the services, topics and apps; None if stopped meanwhile."""
        # Owner only: the data dir holds the Redis data, the logs and the state file.
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.data_dir.chmod(0o700)
        self._refuse_second_stack()
        kafka = self._kafka()
        redis = None if self.stopping else self._redis()
        if redis is None or self.stopping:
            return None
        self._create_topics(kafka)
        token = self.settings.api_token or secrets.token_urlsafe(24)
        api_url = f"http://{LOOPBACK}:{pick_port(self.ports.api, API_PORT.default, 'api')}"
        env = self._app_env(kafka, redis, api_url, token)
        # The worker's /metrics: its default port when free, else any free one.
        metrics_port = pick_port(self.ports.worker_metrics, METRICS_PORT.default, "worker metrics")
        env.update({METRICS_HOST.name: LOOPBACK, METRICS_PORT.name: str(metrics_port)})
        apps = self._start_apps(api_url, env)
        if not self._wait_ready(apps):
            return None
        return StackState(
            pid=os.getpid(),
            kafka=kafka,
            topic=self.settings.topic,
            deadletter_topic=self.settings.deadletter_topic,
            redis=redis,
            api=api_url if any(app.name == "api" for app in apps) else None,
            token=token,
            children={child.name: child.proc.pid for child in self.children},
            worker_metrics=(
                f"http://{LOOPBACK}:{metrics_port}{METRICS_PATH}"
                if any(app.name == "worker" for app in apps)
                else None
            ),
        )

    def shutdown(self) -> None:
        """Stop every child, newest first, and remove our state file. Idempotent."""
        if self.state is not None:
            remove_state(self.data_dir)
        for child in reversed(self.children):
            if child.alive():
                logger.info("stopping %s (pid %s)", child.name, child.proc.pid)
            child.stop()

    def _refuse_second_stack(self) -> None:
        """Two stacks on one data directory would share redis-server's AOF files."""
        check_owner(state_path(self.data_dir))
        try:
            running = read_state(self.data_dir)
        except StackError:
            return  # none, or a stale state file of a stack that is gone
        raise StackError(
            f"a stack is already running from {self.data_dir} (pid {running.pid}); "
            "stop it or use another --data-dir"
        )

    def _kafka(self) -> str:
        if self.settings.kafka_bootstrap is not None:
            logger.info("using external Kafka at %s", redact(self.settings.kafka_bootstrap))
            return self.settings.kafka_bootstrap
        port = pick_port(self.ports.kafka, KAFKA_PORT, "kafka")
        broker = self._started(
            start_broker(
                self.data_dir, port, timeout=self.settings.startup_timeout, die_with_parent=True
            )
        )
        logger.info("broker (Tansu) listening on %s", broker.address)
        return broker.address

    def _redis(self) -> str:
        if self.settings.redis_url is not None:
            logger.info("using external Redis at %s", redact(self.settings.redis_url))
            return self.settings.redis_url
        port = pick_port(self.ports.redis, REDIS_PORT, "redis")
        server = self._started(
            start_redis(
                self.data_dir,
                port,
                password=secrets.token_urlsafe(24),
                timeout=self.settings.startup_timeout,
                die_with_parent=True,
            )
        )
        logger.info(
            "redis-server listening on %s, data in %s",
            redact(server.address),
            server.log_path.parent,
        )
        return server.address

    def _create_topics(self, kafka: str) -> None:
        # Auto-created topics get the broker's default partition count, and
        # faust refuses a source topic whose count differs from its table
        # changelog's: create both before the worker starts.
        names = [self.settings.topic, self.settings.deadletter_topic]
        setup = create_missing_topics(
            kafka,
            names,
            self.settings.topic_partitions,
            within=self.settings.startup_timeout,
            security=self.settings.kafka_security,
        )
        try:
            asyncio.run(setup)
        except TopicSetupError as exc:
            raise StackError(str(exc)) from exc

    def _started(self, child: ManagedProcess) -> ManagedProcess:
        self.children.append(child)
        return child

    def _app_env(self, kafka: str, redis: str, api_url: str, token: str) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                BOOTSTRAP.name: kafka,
                TOPIC.name: self.settings.topic,
                DEADLETTER_TOPIC.name: self.settings.deadletter_topic,
                TOPIC_PARTITIONS.name: str(self.settings.topic_partitions),
                REDIS_URL.name: redis,
                API_HOST.name: LOOPBACK,
                API_PORT.name: api_url.rsplit(":", 1)[1],
                API_URL.name: api_url,
                API_TOKEN.name: token,
                # Keep the worker's faust state with the stack, apart from other stacks'.
                DATADIR.name: str(self.data_dir / "worker" / "faust"),
                "PYTHONUNBUFFERED": "1",  # the worker's ready line must reach its log at once
            }
        )
        if self.settings.redis_url is None:
            # The embedded redis-server is one plain server: drop cluster and TLS settings.
            env.update(dict.fromkeys(REDIS_EMBEDDED_UNSET, ""))
        return env

    def _start_apps(self, api_url: str, env: dict[str, str]) -> list[ManagedProcess]:
        addresses = {"worker": env[BOOTSTRAP.name], "api": api_url}
        started = []
        for app in self.apps:
            if not app.installed():
                logger.warning(
                    "%s is not installed (no module %s): not started", app.name, app.module
                )
                continue
            child = app.start(self.data_dir, addresses[app.name], env)
            logger.info("started %s (pid %s), log %s", app.name, child.proc.pid, child.log_path)
            started.append(self._started(child))
        return started

    def _wait_ready(self, apps: list[ManagedProcess]) -> bool:
        """Wait until every app answers; False if stopped meanwhile."""
        checks: dict[str, App] = {app.name: app for app in self.apps}
        pending = list(apps)
        deadline = time.monotonic() + self.settings.startup_timeout
        while pending:
            if self.stopping:
                return False
            self._check_children()
            pending = [child for child in pending if not checks[child.name].ready(child)]
            if pending and time.monotonic() > deadline:
                child = pending[0]
                raise StackError(
                    f"{child.name} did not become ready within {self.settings.startup_timeout}s; "
                    f"last lines of {child.log_path}:\n{child.log_tail()}"
                )
            time.sleep(_POLL)
        return not self.stopping

    def _check_children(self) -> None:
        for child in self.children:
            if not child.alive():
                raise ChildDied(child)
