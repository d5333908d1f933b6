"""The web interface's server side: pages, login/logout, cookie, static files."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from importlib import resources

import httpx
import pytest
from starlette.applications import Starlette

from stepmetrics.store.api.auth import session_cookie_value
from stepmetrics.store.web import SESSION_COOKIE, web_routes
from stepmetrics.store.web.session import Session, safe_next

TOKEN = "unit-test-token-5f1c"  # noqa: S105 - a test token


def make_client(base_url: str = "http://127.0.0.1") -> httpx.AsyncClient:
    app = Starlette(routes=web_routes(TOKEN))
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url)


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with make_client() as test_client:
        yield test_client


def signed_in(client: httpx.AsyncClient) -> httpx.AsyncClient:
    client.cookies.set(SESSION_COOKIE, session_cookie_value(TOKEN))
    return client


@pytest.mark.parametrize(
    ("path", "login_url"),
    [
        ("/", "/login?next=%2F"),
        ("/?pipeline=p1", "/login?next=%2F%3Fpipeline%3Dp1"),
        ("/executions/run-7", "/login?next=%2Fexecutions%2Frun-7"),
        ("/compare?e=a&e=b", "/login?next=%2Fcompare%3Fe%3Da%26e%3Db"),
        ("/pipelines/p1", "/login?next=%2Fpipelines%2Fp1"),
        ("/deployments/d%2F1", "/login?next=%2Fdeployments%2Fd%2F1"),
    ],
)
async def test_pages_redirect_to_login_without_a_session(
    client: httpx.AsyncClient, path: str, login_url: str
) -> None:
    response = await client.get(path)
    assert response.status_code == 303
    assert response.headers["location"] == login_url


async def test_a_wrong_cookie_is_not_a_session(client: httpx.AsyncClient) -> None:
    client.cookies.set(SESSION_COOKIE, session_cookie_value("another-token"))
    assert (await client.get("/")).status_code == 303


async def test_login_page_is_an_accessible_form(client: httpx.AsyncClient) -> None:
    response = await client.get("/login?next=/executions/e1")
    assert response.status_code == 200
    page = response.text
    assert '<html lang="en">' in page
    assert '<label for="token">API token</label>' in page
    assert 'id="token" name="token" type="password"' in page
    assert 'name="next" value="/executions/e1"' in page
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["cache-control"] == "no-store"


async def test_login_with_the_token_sets_a_strict_httponly_cookie(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/login", data={"token": TOKEN, "next": "/executions/e1"})
    assert response.status_code == 303
    assert response.headers["location"] == "/executions/e1"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}={session_cookie_value(TOKEN)};")
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert "Path=/" in cookie
    assert "Secure" not in cookie  # plain http on loopback: a Secure cookie would be dropped
    assert TOKEN not in cookie
    assert TOKEN not in response.headers["location"]
    assert (await client.get("/executions/e1")).status_code == 200


async def test_login_over_https_sets_a_secure_cookie() -> None:
    async with make_client("https://metrics.example") as client:
        response = await client.post("/login", data={"token": TOKEN})
    assert "Secure" in response.headers["set-cookie"]


async def test_a_wrong_token_is_refused_and_never_logged(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    response = await client.post("/login", data={"token": "guess-123", "next": "/"})
    assert response.status_code == 401
    assert "set-cookie" not in response.headers
    assert "That is not this API&#x27;s token." in response.text
    assert "guess-123" not in response.text
    assert "web login refused" in caplog.text
    assert "guess-123" not in caplog.text


@pytest.mark.parametrize(
    "target", ["//evil.example/x", "https://evil.example/", "/\\evil.example", "", "relative"]
)
async def test_login_never_redirects_off_site(client: httpx.AsyncClient, target: str) -> None:
    response = await client.post("/login", data={"token": TOKEN, "next": target})
    assert response.headers["location"] == "/"


async def test_an_oversized_login_form_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.post("/login", data={"token": "x" * 10_000})
    assert response.status_code == 413
    assert "set-cookie" not in response.headers


async def test_logout_clears_the_cookie(client: httpx.AsyncClient) -> None:
    await client.post("/login", data={"token": TOKEN})
    assert (await client.get("/")).status_code == 200
    response = await client.post("/logout")
    assert response.status_code == 303
    assert response.headers["location"] == "/login"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f'{SESSION_COOKIE}="";')
    assert "Max-Age=0" in cookie
    assert (await client.get("/")).status_code == 303


async def test_signed_in_login_page_goes_straight_to_next(client: httpx.AsyncClient) -> None:
    response = await signed_in(client).get("/login?next=/executions/e2")
    assert response.headers["location"] == "/executions/e2"


async def test_executions_page_is_a_labelled_table_shell(client: httpx.AsyncClient) -> None:
    page = (await signed_in(client).get("/")).text
    assert "<caption>Executions, newest first</caption>" in page
    assert '<label for="filter-pipeline">Pipeline</label>' in page
    assert '<label for="filter-deployment">Deployment</label>' in page
    # One entry module per page; it imports the rest (no classic scripts).
    assert re.findall(r"<script[^>]*>", page) == [
        '<script type="module" src="/static/executions.js">'
    ]


async def test_execution_page_escapes_the_id_everywhere(client: httpx.AsyncClient) -> None:
    nasty = "<b>x</b>&'\"id"
    response = await signed_in(client).get("/executions/" + nasty.replace("&", "%26"))
    page = response.text
    assert response.status_code == 200
    assert nasty not in page
    assert 'data-execution-id="&lt;b&gt;x&lt;/b&gt;&amp;&#x27;&quot;id"' in page
    assert 'href="/api/v1/executions/%3Cb%3Ex%3C%2Fb%3E%26%27%22id/metrics.csv"' in page
    assert 'role="tablist"' in page
    assert 'aria-selected="true">Metrics</button>' in page


async def test_execution_page_loads_its_one_entry_module(client: httpx.AsyncClient) -> None:
    page = (await signed_in(client).get("/executions/e1")).text
    assert re.findall(r"<script[^>]*>", page) == [
        '<script type="module" src="/static/execution.js">'
    ]


async def test_every_referenced_static_file_is_served(client: httpx.AsyncClient) -> None:
    paths = ("/", "/executions/e1", "/pipelines/p", "/compare?e=a&e=b")
    pages = [(await signed_in(client).get(path)).text for path in paths]
    assets = {a for page in pages for a in re.findall(r'(?:src|href)="(/static/[^"]+)"', page)}
    # Follow the modules' relative imports: the pages only name their entry module.
    pending = sorted(a for a in assets if a.endswith(".js"))
    while pending:
        module = (await client.get(pending.pop())).text
        for name in re.findall(r'^import [^;]+ from "\./([\w-]+\.js)";$', module, re.MULTILINE):
            if f"/static/{name}" not in assets:
                assets.add(f"/static/{name}")
                pending.append(f"/static/{name}")
    assert assets >= {"/static/app.css", "/static/chart.js", "/static/favicon.svg"}
    assert assets >= {"/static/common.js", "/static/execution.js", "/static/executions.js"}
    assert assets >= {"/static/lines.js", "/static/controls.js", "/static/runs.js"}
    for asset in assets:
        response = await client.get(asset)
        assert response.status_code == 200, asset
        assert len(response.content) > 100, asset
        if asset.endswith(".js"):  # browsers refuse a module of any other type
            assert response.headers["content-type"].startswith("text/javascript"), asset


async def test_static_files_are_revalidated_by_etag(client: httpx.AsyncClient) -> None:
    script = await client.get("/static/common.js")
    assert "cache-control" not in script.headers
    assert script.headers["last-modified"]
    again = await client.get("/static/common.js", headers={"If-None-Match": script.headers["etag"]})
    assert again.status_code == 304


def test_package_data_holds_templates_and_assets() -> None:
    package = resources.files("stepmetrics.store.web")
    names = {p.name for p in package.joinpath("templates").iterdir()}
    names |= {p.name for p in package.joinpath("static").iterdir()}
    assert {"layout.html", "login.html", "execution.html", "chart.js", "app.css"} <= names


def test_safe_next_keeps_local_paths_only() -> None:
    assert safe_next("/executions/a?b=c") == "/executions/a?b=c"
    assert safe_next(None) == "/"
    assert safe_next("http:/x") == "/"


def test_the_token_stays_out_of_reprs_and_empty_tokens_are_refused() -> None:
    assert TOKEN not in repr(Session(TOKEN))
    with pytest.raises(ValueError, match="needs the API token"):
        web_routes("")


async def test_runs_pages_name_their_pipeline_or_deployment_escaped(
    client: httpx.AsyncClient,
) -> None:
    page = (await signed_in(client).get("/pipelines/%3Cb%3Ep")).text
    assert 'data-kind="pipeline" data-name="&lt;b&gt;p"' in page
    assert '<script type="module" src="/static/runs.js">' in page
    page = (await signed_in(client).get("/deployments/d%2F1")).text
    assert 'data-kind="deployment" data-name="d/1"' in page
    page = (await signed_in(client).get("/compare?e=a&e=b")).text
    assert '<script type="module" src="/static/compare.js">' in page
