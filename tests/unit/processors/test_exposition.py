"""The worker's /metrics server: a real socket on loopback, started and stopped."""

from __future__ import annotations

import socket

import httpx
import pytest

from stepmetrics.processors.errors import MetricsServerError
from stepmetrics.processors.exposition import MetricsServer
from stepmetrics.processors.telemetry import WorkerTelemetry
from tests.support.prometheus import parse_samples, value


def test_serves_the_registry_then_stops_and_frees_the_port() -> None:
    telemetry = WorkerTelemetry()
    telemetry.batch_done(4, 0.01)
    server = MetricsServer(telemetry.registry, "127.0.0.1", 0)
    server.start()
    server.start()  # idempotent
    try:
        assert server.port > 0
        assert server.url == f"http://127.0.0.1:{server.port}/metrics"
        response = httpx.get(server.url, trust_env=False)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        samples = parse_samples(response.text)
        assert value(samples, "stepmetrics_worker_messages_total") == 4
    finally:
        server.stop()
    server.stop()  # idempotent
    with pytest.raises(httpx.ConnectError):  # the listening socket is closed
        httpx.get(server.url, trust_env=False)


def test_a_port_in_use_is_a_clear_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = MetricsServer(WorkerTelemetry().registry, "127.0.0.1", port)
        with pytest.raises(MetricsServerError, match=f"127.0.0.1:{port}.*METRICS_PORT"):
            server.start()
        server.stop()
