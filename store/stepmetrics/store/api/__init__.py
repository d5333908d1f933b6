"""The reader HTTP API: `create_app(settings)` and `session_cookie_value(token)`."""

from stepmetrics.store.api.app import create_app
from stepmetrics.store.api.auth import SESSION_COOKIE, session_cookie_value

__all__ = ["SESSION_COOKIE", "create_app", "session_cookie_value"]
