"""Serve the reader API with uvicorn (the `stepmetrics api` command parses its options)."""

from __future__ import annotations

from typing import Any, Final

import uvicorn
from starlette.applications import Starlette

from stepmetrics.store.api.app import create_app
from stepmetrics.store.settings import ApiSettings
from stepmetrics.store.web import web_routes

APP_FACTORY: Final = "stepmetrics.store.api.server:app_from_env"
LOG_LEVELS: Final = ("critical", "error", "warning", "info", "debug")


def serve(settings: ApiSettings, *, log_level: str = "info", access_log: bool = False) -> int:
    """Run the API until interrupted; 0 on a clean stop, 1 if the server never started."""
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_level": log_level,
        "access_log": access_log,
        "server_header": False,
        "lifespan": "on",
    }
    if settings.workers > 1:
        # Each worker process builds its app from the inherited environment
        # (the token and Redis settings); uvicorn's supervisor owns the socket.
        uvicorn.run(APP_FACTORY, factory=True, workers=settings.workers, **options)
        return 0
    app = create_app(settings, extra_routes=web_routes(settings.token, settings.admin_token))
    server = uvicorn.Server(uvicorn.Config(app, **options))
    server.run()
    return 0 if server.started else 1


def app_from_env() -> Starlette:
    """The app from `STEPMETRICS_*` variables (the factory of worker processes)."""
    settings = ApiSettings.from_env()
    return create_app(settings, extra_routes=web_routes(settings.token, settings.admin_token))
