"""Serve a worker's Prometheus registry on `http://HOST:PORT/metrics`.

prometheus-client's own WSGI server, in a daemon thread: scraping never waits
on the worker's event loop, and a busy loop never delays a scrape.
`MetricsServer.stop` shuts the server down and closes its socket (the worker
calls it on the way out, after faust stopped).
"""

from __future__ import annotations

import logging
import threading
from typing import Final
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server

from stepmetrics.processors.errors import MetricsServerError
from stepmetrics.processors.settings import METRICS_PATH

logger = logging.getLogger(__name__)
_JOIN_TIMEOUT: Final = 5.0


class MetricsServer:
    """`registry` over HTTP on `host`:`port` (0 for a free port) once started.

    Args:
        registry: what to serve (e.g. `WorkerTelemetry.registry`).
        host: the address to bind (127.0.0.1 by default in the settings).
        port: the port to bind; 0 picks a free one (see `port` once started).
    """

    def __init__(self, registry: CollectorRegistry, host: str, port: int) -> None:
        self._registry = registry
        self._host = host
        self._port = port
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The bound port once started (until then the asked one, maybe 0)."""
        return self._port

    @property
    def url(self) -> str:
        """Where the metrics are served."""
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self.port}{METRICS_PATH}"

    def start(self) -> None:
        """Bind and serve; idempotent.

        Raises:
            MetricsServerError: the address cannot be bound (in use, not local...).
        """
        if self._server is not None:
            return
        try:
            self._server, self._thread = start_http_server(
                self._port, addr=self._host, registry=self._registry
            )
        except OSError as exc:
            raise MetricsServerError(
                f"cannot serve the worker's metrics on {self._host}:{self._port}: {exc}; set "
                "STEPMETRICS_WORKER_METRICS_PORT to a free port (0 turns the metrics off) or "
                "STEPMETRICS_WORKER_METRICS_HOST to a local address"
            ) from exc
        self._port = int(self._server.server_address[1])
        logger.info("worker metrics on %s", self.url)

    def stop(self) -> None:
        """Stop serving and close the socket; idempotent."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(_JOIN_TIMEOUT)
