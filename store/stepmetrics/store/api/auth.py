"""Token authentication of the reader API (and of the web interface).

Every path under `/api/` needs either `Authorization: Bearer <token>` or the
session cookie `stepmetrics_session` whose value is `session_cookie_value(token)`
(the web interface sets it at login, so the token itself never sits in the
browser). Comparisons are constant-time. This is a pure ASGI middleware:
cheaper than Starlette's `BaseHTTPMiddleware` on every request.

Two scopes: the read token (`STEPMETRICS_API_TOKEN`) may read; the optional
admin token (`STEPMETRICS_API_ADMIN_TOKEN`) may read and delete. The
middleware puts the scope of the request's credentials in the ASGI scope
(`token_scope(scope)`); the delete handler checks it.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Final

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

SESSION_COOKIE: Final = "stepmetrics_session"
PROTECTED_PREFIX: Final = "/api/"
_SESSION_LABEL: Final = b"stepmetrics web session v1"
READ: Final = "read"
ADMIN: Final = "admin"
# The ASGI scope key holding the request's token scope (READ or ADMIN).
_SCOPE_KEY: Final = "stepmetrics.token_scope"
_UNAUTHORIZED: Final = orjson.dumps(
    {
        "error": "missing or wrong token: send the header 'Authorization: Bearer <token>' "
        "with the value of STEPMETRICS_API_TOKEN"
    }
)


def session_cookie_value(token: str) -> str:
    """The `stepmetrics_session` cookie value for `token`: HMAC-SHA256, hex."""
    return hmac.new(token.encode(), _SESSION_LABEL, hashlib.sha256).hexdigest()


class TokenChecker:
    """Checks raw ASGI headers against one token."""

    def __init__(self, token: str) -> None:
        self._token = token.encode()
        self._session = session_cookie_value(token).encode()

    def allows(self, headers: list[tuple[bytes, bytes]]) -> bool:
        """True if the headers carry the bearer token or the session cookie."""
        for name, value in headers:
            if name == b"authorization":
                scheme, _, credential = value.partition(b" ")
                if scheme.lower() == b"bearer" and hmac.compare_digest(
                    credential.strip(), self._token
                ):
                    return True
            elif name == b"cookie" and self._cookie_matches(value):
                return True
        return False

    def session_matches(self, value: bytes) -> bool:
        """Constant-time check of a session cookie's value."""
        return hmac.compare_digest(value, self._session)

    def _cookie_matches(self, header: bytes) -> bool:
        for part in header.split(b";"):
            key, _, value = part.strip().partition(b"=")
            if key == SESSION_COOKIE.encode() and self.session_matches(value):
                return True
        return False


def token_scope(scope: Scope) -> str | None:
    """READ or ADMIN: what the request's credentials may do (None: none valid)."""
    found: str | None = scope.get(_SCOPE_KEY)
    return found


class ScopedTokens:
    """The read token and the optional admin token ("" = none)."""

    def __init__(self, token: str, admin_token: str = "") -> None:
        self.read = TokenChecker(token)
        self.admin = TokenChecker(admin_token) if admin_token else None

    def scope_of(self, headers: list[tuple[bytes, bytes]]) -> str | None:
        """ADMIN, READ or None; both tokens are always checked (constant time)."""
        is_admin = self.admin is not None and self.admin.allows(headers)
        is_reader = self.read.allows(headers)
        return ADMIN if is_admin else READ if is_reader else None

    def session_scope(self, value: bytes) -> str | None:
        """The scope of a session cookie's value (constant-time checks)."""
        is_admin = self.admin is not None and self.admin.session_matches(value)
        is_reader = self.read.session_matches(value)
        return ADMIN if is_admin else READ if is_reader else None


class TokenAuthMiddleware:
    """Answers 401 (JSON) to any request under `/api/` without valid credentials,
    and records the scope of valid ones (`token_scope`)."""

    def __init__(
        self, app: ASGIApp, token: str, admin_token: str = "", prefix: str = PROTECTED_PREFIX
    ) -> None:
        self.app = app
        self.tokens = ScopedTokens(token, admin_token)
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        found = self.tokens.scope_of(scope["headers"])
        scope[_SCOPE_KEY] = found
        if found is None and _route_path(scope).startswith(self.prefix):
            await send(
                {
                    "type": "http.response.start",
                    "status": 401,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(_UNAUTHORIZED)).encode()),
                        (b"www-authenticate", b"Bearer"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": _UNAUTHORIZED})
            return
        await self.app(scope, receive, send)


def _route_path(scope: Scope) -> str:
    """The path the router matches: without the `root_path` the app is served
    under (a Starlette `Mount`, `uvicorn --root-path`), which stays in `path`.
    Checking `path` alone would let `/prefix/api/...` through unchecked."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path
