"""Starlette routes of the web interface (pages, login, logout, static files)."""

from __future__ import annotations

import functools
import logging
import shlex
from collections.abc import Awaitable, Callable
from typing import Final
from urllib.parse import parse_qs, quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from stepmetrics.store.api.auth import ADMIN
from stepmetrics.store.endpoints import EXECUTION_CSV_PATH, execution_path
from stepmetrics.store.errors import StoreSettingsError
from stepmetrics.store.web.login_limit import LoginLimiter
from stepmetrics.store.web.render import SECURITY_HEADERS, page
from stepmetrics.store.web.session import Session, safe_next
from stepmetrics.store.web.values import LIST_VALUES_PATH, list_values

logger = logging.getLogger(__name__)

# A login form is a token and a path; anything bigger is not one.
MAX_FORM_BYTES: Final = 8192


def web_routes(token: str, admin_token: str = "") -> list[BaseRoute]:
    """The web interface's routes, for `create_app(..., extra_routes=...)`.

    Args:
        token: the API token; the login page accepts exactly this token and
            the session cookie is derived from it.
        admin_token: the admin token ("" = none): signing in with it gives a
            session that may delete (the Execution page shows its Delete button).

    Returns:
        `/` (executions list), `/executions/{id}` (Execution page with its
        Metrics tab), `/compare?e=id&e=id...` (2-10 executions side by side),
        `/pipelines/{name}` and `/deployments/{name}` (runs table and trend),
        `/login` (GET form, POST sign in), `/logout` (POST),
        `/api/web/list-values` (the charts' binary data, token-protected like
        every `/api/` path) and `/static/...` (the pages' scripts and styles).
    """
    if not token:
        raise StoreSettingsError("the web interface needs the API token; got an empty one")
    views = _Views(Session(token, admin_token), LoginLimiter())
    return [
        Route("/", views.executions, methods=["GET"], name="web_executions"),
        Route(
            "/executions/{execution_id:path}",
            views.execution,
            methods=["GET"],
            name="web_execution",
        ),
        Route("/compare", views.compare, methods=["GET"], name="web_compare"),
        Route("/pipelines/{name:path}", views.pipeline, methods=["GET"], name="web_pipeline"),
        Route("/deployments/{name:path}", views.deployment, methods=["GET"], name="web_deployment"),
        Route("/login", views.login_form, methods=["GET"], name="web_login"),
        Route("/login", views.login, methods=["POST"], name="web_login_post"),
        Route("/logout", views.logout, methods=["POST"], name="web_logout"),
        Route(LIST_VALUES_PATH, list_values, methods=["GET"], name="web_list_values"),
        Mount("/static", StaticFiles(packages=[(__package__, "static")]), name="web_static"),
    ]


_View = Callable[["_Views", Request], Awaitable[Response]]


def _signed_in(view: _View) -> _View:
    """`view` for a signed-in browser; any other goes to the login page, then back."""

    @functools.wraps(view)
    async def guarded(views: _Views, request: Request) -> Response:
        if views.session.is_logged_in(request):
            return await view(views, request)
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)

    return guarded


class _Views:
    def __init__(self, session: Session, limiter: LoginLimiter) -> None:
        self.session = session
        self.limiter = limiter

    @_signed_in
    async def executions(self, request: Request) -> Response:
        return page("Executions · stepmetrics", "executions.html", script="executions.js")

    @_signed_in
    async def execution(self, request: Request) -> Response:
        execution_id: str = request.path_params["execution_id"]
        return page(
            f"Execution {execution_id} · stepmetrics",
            "execution.html",
            script="execution.js",
            execution_id=execution_id,
            csv_href=execution_path(execution_id, EXECUTION_CSV_PATH),
            py_id=repr(execution_id),
            sh_id=shlex.quote(execution_id),
            # Only a session signed in with the admin token may delete.
            delete_hidden="" if self.session.scope(request) == ADMIN else "hidden",
        )

    @_signed_in
    async def compare(self, request: Request) -> Response:
        return page("Compare executions · stepmetrics", "compare.html", script="compare.js")

    @_signed_in
    async def pipeline(self, request: Request) -> Response:
        return _runs_page("pipeline", request.path_params["name"])

    @_signed_in
    async def deployment(self, request: Request) -> Response:
        return _runs_page("deployment", request.path_params["name"])

    async def login_form(self, request: Request) -> Response:
        target = safe_next(request.query_params.get("next"))
        if self.session.is_logged_in(request):
            return RedirectResponse(target, status_code=303)
        return _login_page(target, error="")

    async def login(self, request: Request) -> Response:
        address = request.client.host if request.client else "?"
        wait = self.limiter.retry_after(address)
        if wait is not None:
            logger.warning(
                "web login from %s refused: too many failures (%s refused so far)",
                address,
                self.limiter.refused,
            )
            response = _login_page(
                "/", error=f"Too many failed sign-ins: try again in {wait} s.", status_code=429
            )
            response.headers["retry-after"] = str(wait)
            return response
        body = await _read_capped(request, MAX_FORM_BYTES)
        if body is None:
            return _login_page("/", error="The form is too large.", status_code=413)
        try:
            form = parse_qs(body.decode("utf-8", "replace"), max_num_fields=4)
        except ValueError:  # more fields than a login form has
            return _login_page("/", error="The form is not a login form.", status_code=400)
        candidate = form.get("token", [""])[0].strip()
        target = safe_next(form.get("next", [""])[0])
        scope = self.session.scope_of_token(candidate)
        if scope is None:
            self.limiter.failed(address)
            # Never log what was typed: it may be a real token of another stack.
            logger.info("web login refused from %s", address)
            return _login_page(target, error="That is not this API's token.", status_code=401)
        response = RedirectResponse(target, status_code=303)
        self.session.start(response, request, scope)
        return response

    async def logout(self, request: Request) -> Response:
        response = RedirectResponse("/login", status_code=303, headers=SECURITY_HEADERS)
        Session.end(response, request)
        return response


async def _read_capped(request: Request, limit: int) -> bytes | None:
    """The request body, or None as soon as it exceeds `limit` bytes."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _runs_page(kind: str, name: str) -> Response:
    """The runs page of pipeline or deployment `name` (`kind`)."""
    title = f"{kind.capitalize()} {name}"
    return page(f"{title} · stepmetrics", "runs.html", script="runs.js", kind=kind, runs_name=name)


def _login_page(target: str, *, error: str, status_code: int = 200) -> Response:
    return page(
        "Sign in · stepmetrics",
        "login.html",
        signed_in=False,
        status_code=status_code,
        next=target,
        error=error,
        error_hidden="" if error else "hidden",
    )
