"""The web interface with an admin token: the session's scope decides whether
the Execution page offers deleting; sign-in attempts are limited per address."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette

from stepmetrics.store.api.auth import session_cookie_value
from stepmetrics.store.web import SESSION_COOKIE, web_routes
from stepmetrics.store.web.login_limit import MAX_FAILURES

TOKEN = "unit-test-token-5f1c"  # noqa: S105 - a test token
ADMIN = "unit-test-admin-token-9a2e"


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    app = Starlette(routes=web_routes(TOKEN, ADMIN))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as c:
        yield c


def delete_section(html: str) -> str:
    start = html.index('<section id="delete-section"')
    return html[start : html.index(">", start) + 1]


async def test_signing_in_with_the_admin_token_gives_an_admin_session(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/login", data={"token": ADMIN, "next": "/executions/e1"})
    assert response.status_code == 303
    assert client.cookies[SESSION_COOKIE] == session_cookie_value(ADMIN)
    page = await client.get("/executions/e1")
    assert page.status_code == 200
    assert " hidden" not in delete_section(page.text)


async def test_a_read_session_gets_no_delete_button(client: httpx.AsyncClient) -> None:
    await client.post("/login", data={"token": TOKEN})
    assert client.cookies[SESSION_COOKIE] == session_cookie_value(TOKEN)
    page = await client.get("/executions/e1")
    assert delete_section(page.text).endswith(" hidden>")


async def test_no_admin_token_means_no_delete_button_even_for_its_cookie() -> None:
    app = Starlette(routes=web_routes(TOKEN))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1"
    ) as client:
        assert (await client.post("/login", data={"token": ADMIN})).status_code == 401
        client.cookies.set(SESSION_COOKIE, session_cookie_value(TOKEN))
        page = await client.get("/executions/e1")
        assert delete_section(page.text).endswith(" hidden>")


async def test_too_many_failed_sign_ins_are_refused_with_retry_after(
    client: httpx.AsyncClient,
) -> None:
    for _ in range(MAX_FAILURES):
        assert (await client.post("/login", data={"token": "guess-guess"})).status_code == 401
    refused = await client.post("/login", data={"token": TOKEN})  # even the right one
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert "Too many failed sign-ins" in refused.text
    assert SESSION_COOKIE not in client.cookies
