"""The browser session: an HttpOnly, SameSite=Strict cookie derived from the token.

The cookie holds `session_cookie_value(token)` (an HMAC keyed by the API
token), never the token itself; the reader API accepts the same cookie, so the
pages' scripts call it without ever seeing the token.
"""

from __future__ import annotations

import hmac
from typing import Final, Literal, TypedDict
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

from stepmetrics.store.api.auth import SESSION_COOKIE, TokenChecker, session_cookie_value

__all__ = ["SESSION_COOKIE", "Session", "safe_next"]

DEFAULT_NEXT: Final = "/"


class Session:
    """Checks, sets and clears the session cookie for one API token."""

    def __init__(self, token: str) -> None:
        self._token = token
        self._cookie = session_cookie_value(token)
        self._checker = TokenChecker(token)

    def __repr__(self) -> str:  # keep the token out of logs and tracebacks
        return "Session(token=***)"

    def token_matches(self, candidate: str) -> bool:
        """Constant-time check of a token typed on the login page."""
        return hmac.compare_digest(candidate.encode(), self._token.encode())

    def is_logged_in(self, request: Request) -> bool:
        """True when the request carries the valid session cookie."""
        return self._checker.session_matches(request.cookies.get(SESSION_COOKIE, "").encode())

    def start(self, response: Response, request: Request) -> None:
        """Set the session cookie on `response` (Secure when served over HTTPS)."""
        response.set_cookie(SESSION_COOKIE, self._cookie, **_attributes(request))

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
