"""The browser session: an HttpOnly, SameSite=Strict cookie derived from the token.

The cookie holds `session_cookie_value(token)` (an HMAC keyed by the API
token), never the token itself; the reader API accepts the same cookie, so the
pages' scripts call it without ever seeing the token. Signing in with the
admin token sets the admin token's cookie: the session's scope (read or
admin) is the scope of the token it was started with.
"""

from __future__ import annotations

import hmac
from typing import Final, Literal, TypedDict
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

from stepmetrics.store.api.auth import (
    ADMIN,
    READ,
    SESSION_COOKIE,
    ScopedTokens,
    session_cookie_value,
)

__all__ = ["SESSION_COOKIE", "Session", "safe_next"]

DEFAULT_NEXT: Final = "/"


class Session:
    """Checks, sets and clears the session cookie for the read token and the
    optional admin token ("" = none)."""

    def __init__(self, token: str, admin_token: str = "") -> None:
        self._tokens = {READ: token, ADMIN: admin_token}
        self._scopes = ScopedTokens(token, admin_token)

    def __repr__(self) -> str:  # keep the tokens out of logs and tracebacks
        return "Session(token=***)"

    @property
    def deleting(self) -> bool:
        """Deleting is on (an admin token is configured)."""
        return bool(self._tokens[ADMIN])

    def scope_of_token(self, candidate: str) -> str | None:
        """READ or ADMIN for a token typed on the login page (constant-time
        checks against both), None when it is neither."""
        typed = candidate.encode()
        is_admin = self.deleting and hmac.compare_digest(typed, self._tokens[ADMIN].encode())
        is_reader = hmac.compare_digest(typed, self._tokens[READ].encode())
        return ADMIN if is_admin else READ if is_reader else None

    def scope(self, request: Request) -> str | None:
        """READ or ADMIN for the request's session cookie, None when it has none valid."""
        return self._scopes.session_scope(request.cookies.get(SESSION_COOKIE, "").encode())

    def is_logged_in(self, request: Request) -> bool:
        """True when the request carries a valid session cookie."""
        return self.scope(request) is not None

    def start(self, response: Response, request: Request, scope: str = READ) -> None:
        """Set the session cookie of `scope`'s token on `response` (Secure when
        served over HTTPS)."""
        value = session_cookie_value(self._tokens[scope])
        response.set_cookie(SESSION_COOKIE, value, **_attributes(request))

    @staticmethod
    def end(response: Response, request: Request) -> None:
        """Clear the session cookie."""
        response.delete_cookie(SESSION_COOKIE, **_attributes(request))


class _CookieAttributes(TypedDict):
    path: str
    httponly: bool
    samesite: Literal["strict"]
    secure: bool


def _attributes(request: Request) -> _CookieAttributes:
    # Clearing a cookie needs the same attributes as setting it.
    return {
        "path": "/",
        "httponly": True,
        "samesite": "strict",
        "secure": request.url.scheme == "https",
    }


def safe_next(target: str | None) -> str:
    """Return `target` if it is a local path on this site, else the default page.

    Only `/path?query` forms are kept: anything with a scheme, a host or a
    leading `//` could send the user to another site after login.
    """
    if not target or not target.startswith("/") or target.startswith("//"):
        return DEFAULT_NEXT
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or "\\" in target:
        return DEFAULT_NEXT
    return target
