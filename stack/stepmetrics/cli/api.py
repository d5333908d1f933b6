"""`stepmetrics api`: serve the reader API."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import sys

from stepmetrics.cli.exit_codes import EXIT_USAGE
from stepmetrics.store.api.app import REDIS_CONNECT_TIMEOUT
from stepmetrics.store.api.server import LOG_LEVELS, serve
from stepmetrics.store.connection import REDIS_URL
from stepmetrics.store.errors import StoreSettingsError
from stepmetrics.store.preflight import verify_redis
from stepmetrics.store.settings import (
    API_HOST,
    API_PORT,
    API_TOKEN,
    API_WORKERS,
    REDIS_PREFIX,
    ApiSettings,
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stepmetrics api",
        description="Serve the read-only reader API (JSON, OpenAPI at /openapi.json). "
        f"Needs {API_TOKEN.name}; reads {REDIS_URL.name}, {REDIS_PREFIX.name}, "
        f"{API_HOST.name} and {API_PORT.name}.",
    )
    parser.add_argument("--host", help=f"listen address (default: {API_HOST.name})")
    parser.add_argument("--port", type=int, help=f"listen port (default: {API_PORT.name})")
    parser.add_argument(
        "--workers",
        type=int,
        help=f"server processes (default: {API_WORKERS.name} or {API_WORKERS.default})",
    )
    parser.add_argument("--log-level", default="info", choices=LOG_LEVELS)
    parser.add_argument(
        "--access-log", action="store_true", help="log every request (off: it costs throughput)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the API until interrupted; 0 on a clean stop, 2 on bad settings."""
    args = _parser().parse_args(argv)
    try:
        settings = ApiSettings.from_env()
        overrides = {"host": args.host, "port": args.port, "workers": args.workers}
        settings = dataclasses.replace(
            settings, **{k: v for k, v in overrides.items() if v is not None}
        )
        asyncio.run(verify_redis(settings.store.redis, settings.store.keys, REDIS_CONNECT_TIMEOUT))
    except StoreSettingsError as exc:
        print(f"stepmetrics api: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return serve(settings, log_level=args.log_level, access_log=args.access_log)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
