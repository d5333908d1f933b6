"""`stepmetrics api`: serve the reader API with uvicorn."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from typing import Any, Final

import uvicorn
from starlette.applications import Starlette

from stepmetrics.store.api.app import create_app
from stepmetrics.store.errors import StoreSettingsError
from stepmetrics.store.settings import ApiSettings
from stepmetrics.store.web import web_routes

APP_FACTORY: Final = "stepmetrics.store.api.server:app_from_env"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stepmetrics api",
        description="Serve the read-only reader API (JSON, OpenAPI at /openapi.json). "
        "Needs STEPMETRICS_API_TOKEN; reads STEPMETRICS_REDIS_URL, STEPMETRICS_REDIS_PREFIX, "
        "STEPMETRICS_API_HOST and STEPMETRICS_API_PORT.",
    )
    parser.add_argument("--host", help="listen address (default: STEPMETRICS_API_HOST)")
    parser.add_argument("--port", type=int, help="listen port (default: STEPMETRICS_API_PORT)")
    parser.add_argument(
        "--workers", type=int, help="server processes (default: STEPMETRICS_API_WORKERS or 1)"
    )
    parser.add_argument(
        "--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"]
    )
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
    except StoreSettingsError as exc:
        print(f"stepmetrics api: {exc}", file=sys.stderr)
        return 2
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_level": args.log_level,
        "access_log": args.access_log,
        "server_header": False,
        "lifespan": "on",
    }
    if settings.workers > 1:
        # Each worker process builds its app from the inherited environment
        # (the token and Redis settings); uvicorn's supervisor owns the socket.
        uvicorn.run(APP_FACTORY, factory=True, workers=settings.workers, **options)
        return 0
    app = create_app(settings, extra_routes=web_routes(settings.token))
    server = uvicorn.Server(uvicorn.Config(app, **options))
    server.run()
    return 0 if server.started else 1


def app_from_env() -> Starlette:
    """The app from `STEPMETRICS_*` variables (the factory of worker processes)."""
    settings = ApiSettings.from_env()
    return create_app(settings, extra_routes=web_routes(settings.token))
