"""`stepmetrics worker`: run the stream worker until SIGTERM/SIGINT.

The worker's Prometheus metrics are served (`STEPMETRICS_WORKER_METRICS_PORT`,
0 = off) from before faust starts until after it stopped.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import sys
from typing import TYPE_CHECKING

from stepmetrics.cli.exit_codes import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from stepmetrics.processors.errors import ProcessorError
from stepmetrics.processors.exposition import MetricsServer
from stepmetrics.processors.settings import ENV_VARS, ProcessorSettings
from stepmetrics.processors.topics import create_worker_topics
from stepmetrics.store.errors import StoreSettingsError
from stepmetrics.store.preflight import verify_redis

if TYPE_CHECKING:
    import faust

logger = logging.getLogger(__name__)


async def _preflight(settings: ProcessorSettings) -> None:
    await create_worker_topics(settings)
    await verify_redis(settings.redis, settings.keys, settings.redis_timeout)


def main(argv: list[str] | None = None) -> int:
    """Run the worker with settings from the environment; return the exit code."""
    parser = argparse.ArgumentParser(
        prog="stepmetrics worker",
        description="Consume the metrics topic and apply it to Redis. Configured by "
        "environment variables: " + ", ".join(sorted(ENV_VARS)),
    )
    parser.parse_args(argv)
    try:
        settings = ProcessorSettings.from_env()
        asyncio.run(_preflight(settings))
    except (ProcessorError, StoreSettingsError) as exc:
        print(f"stepmetrics worker: {exc}", file=sys.stderr)
        return EXIT_USAGE
    # Imported late: faust is heavy, and `--help` should not need it.
    from stepmetrics.processors.app import create_app
    from stepmetrics.processors.telemetry import WorkerTelemetry

    telemetry = WorkerTelemetry()
    app = create_app(settings, telemetry)
    server = None
    if settings.metrics_port:
        server = MetricsServer(telemetry.registry, settings.metrics_host, settings.metrics_port)
    try:
        if server is not None:
            server.start()
        return _run(app, settings)
    except ProcessorError as exc:
        print(f"stepmetrics worker: {exc}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        if server is not None:
            server.stop()


def _run(app: faust.App, settings: ProcessorSettings) -> int:
    """Run faust's worker for `app` until it stops; the exit code."""
    import faust

    # Decoding a batch allocates many short-lived containers: collect young
    # objects less often, and keep the long-lived import-time heap out of it.
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    # redirect_stdouts=False: the readiness line must reach the real stdout.
    worker = faust.Worker(
        app, loglevel=settings.log_level.upper(), quiet=True, redirect_stdouts=False
    )
    try:
        worker.execute_from_commandline()
    except SystemExit as exc:
        if exc.code is None:
            return EXIT_OK
        return exc.code if isinstance(exc.code, int) else EXIT_FAILED  # a message means failure
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
