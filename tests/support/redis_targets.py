"""TEST-ONLY: a real 3-master Redis Cluster, and the two Redis targets the suite runs against.

`start_cluster()` starts three `redis-server --cluster-enabled yes` nodes in
temp dirs (each also listens on its port + 10000, the cluster bus) and forms
the cluster with `redis-cli --cluster create`. `RedisTarget` is what a test
needs to reach either a single redis-server or the cluster: the URL, the mode,
the environment of a worker or API subprocess, and a client built exactly as
the product builds it (`stepmetrics.store.connection`).
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import pytest

from stepmetrics.stack.services import LOOPBACK, ManagedProcess, free_port, redis_binary, spawn
from stepmetrics.store.connection import (
    REDIS_CLUSTER,
    REDIS_SSL_CAFILE,
    REDIS_SSL_CERTFILE,
    REDIS_SSL_KEYFILE,
    REDIS_URL,
    RedisClient,
    RedisConnection,
)

SINGLE: Final = "single"
CLUSTER: Final = "cluster"
REDIS_MODES: Final = (SINGLE, CLUSTER)
# Runs a test (or, as `pytestmark`, a module) against the single server and the cluster.
BOTH_REDIS_MODES: Final = pytest.mark.parametrize("redis_target", REDIS_MODES, indirect=True)
CLUSTER_NODES: Final = 3
BUS_OFFSET: Final = 10_000  # Redis Cluster's bus port is the node port + 10000
_MAX_NODE_PORT: Final = 65_535 - BUS_OFFSET
_FORM_TIMEOUT: Final = 30.0


@dataclass(frozen=True)
class RedisTarget:
    """A Redis the product can be pointed at: one server or a cluster (any node's URL)."""

    url: str
    cluster: bool
    ssl_cafile: str = ""
    ssl_certfile: str = ""
    ssl_keyfile: str = ""

    @property
    def connection(self) -> RedisConnection:
        return RedisConnection(
            self.url, self.cluster, self.ssl_cafile, self.ssl_certfile, self.ssl_keyfile
        )

    def env(self) -> dict[str, str]:
        """The variables a worker or API process needs to reach this Redis."""
        return {
            REDIS_URL.name: self.url,
            REDIS_CLUSTER.name: str(self.cluster).lower(),
            REDIS_SSL_CAFILE.name: self.ssl_cafile,
            REDIS_SSL_CERTFILE.name: self.ssl_certfile,
            REDIS_SSL_KEYFILE.name: self.ssl_keyfile,
        }

    def client(self) -> RedisClient:
        return self.connection.connect(timeout=10.0)


def _node_port() -> int:
    """A free port <= 55535 whose cluster bus port (+10000) is free too."""
    for _ in range(200):
        port = free_port()
        bus = port + BUS_OFFSET
        if port <= _MAX_NODE_PORT and free_port(bus) == bus:  # free_port: the bus port if free
            return port
    raise RuntimeError("no free port pair (port, port + 10000) for a cluster node")


def _start_node(workdir: Path, port: int) -> ManagedProcess:
    node_dir = workdir / f"node-{port}"
    argv = [
        str(redis_binary()),
        "--bind", LOOPBACK,
        "--port", str(port),
        "--cluster-enabled", "yes",
        "--cluster-config-file", "nodes.conf",
        "--cluster-node-timeout", "5000",
        "--dir", str(node_dir),
        "--save", "",
        "--appendonly", "no",
        "--daemonize", "no",
    ]  # fmt: skip
    return spawn("redis", argv, node_dir, f"redis://{LOOPBACK}:{port}/0")


def _cli(port: int, *args: str) -> str:
    cli = shutil.which("redis-cli")
    if cli is None:
        raise RuntimeError("redis-cli not found on PATH (Debian package redis-tools)")
    done = subprocess.run(
        [cli, "-h", LOOPBACK, "-p", str(port), *args],
        capture_output=True,
        timeout=_FORM_TIMEOUT,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"redis-cli {' '.join(args)} failed: {done.stderr.decode()}")
    return done.stdout.decode()


def _wait_ready(ports: list[int]) -> None:
    deadline = time.monotonic() + _FORM_TIMEOUT
    while time.monotonic() < deadline:
        with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
            if all("cluster_state:ok" in _cli(p, "cluster", "info") for p in ports):
                return
        time.sleep(0.1)
    raise RuntimeError(f"the cluster on ports {ports} did not reach cluster_state:ok")


@contextlib.contextmanager
def start_cluster(workdir: Path) -> Iterator[RedisTarget]:
    """A running 3-master cluster (no replicas) until the block exits."""
    nodes: list[ManagedProcess] = []
    try:
        for _ in range(CLUSTER_NODES):
            nodes.append(_start_node(workdir, _node_port()))
        ports = [int(node.address.rsplit(":", 1)[1].split("/")[0]) for node in nodes]
        for port in ports:
            _wait_answering(port)
        create = [f"{LOOPBACK}:{port}" for port in ports]
        _cli(ports[0], "--cluster", "create", *create, "--cluster-replicas", "0", "--cluster-yes")
        _wait_ready(ports)
        yield RedisTarget(nodes[0].address, cluster=True)
    finally:
        for node in nodes:
            node.stop()


def _wait_answering(port: int) -> None:
    deadline = time.monotonic() + _FORM_TIMEOUT
    while time.monotonic() < deadline:
        with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
            if "PONG" in _cli(port, "ping"):
                return
        time.sleep(0.05)
    raise RuntimeError(f"cluster node on port {port} does not answer")
