"""The web interface: executions list, Execution page with its Metrics tab, login.

Pages are small HTML shells rendered here; their scripts read the reader API
(`/api/v1/...`) with the session cookie set at login, so the browser never
holds the API token. Mount with
`create_app(settings, extra_routes=web_routes(settings_token))`.
"""

from stepmetrics.store.web.routes import web_routes
from stepmetrics.store.web.session import SESSION_COOKIE

__all__ = ["SESSION_COOKIE", "web_routes"]
