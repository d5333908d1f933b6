"""HTML rendering: stdlib `string.Template` over the packaged templates.

Every substituted value is HTML-escaped here; templates hold no scripts or
styles inline, so the Content-Security-Policy can forbid inline code.
"""

from __future__ import annotations

import html
from functools import cache
from importlib import resources
from string import Template
from typing import Final

from starlette.responses import HTMLResponse

# No inline code, no third-party origins: everything comes from this server.
SECURITY_HEADERS: Final[dict[str, str]] = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


@cache
def _template(name: str) -> Template:
    text = resources.files(__package__).joinpath("templates", name).read_text("utf-8")
    return Template(text)


def render(name: str, **values: str) -> str:
    """Render template `name` with every value HTML-escaped."""
    return _template(name).substitute({k: html.escape(v) for k, v in values.items()})


def page(
    title: str,
    body_template: str,
    *,
    script: str = "",
    signed_in: bool = True,
    status_code: int = 200,
    **values: str,
) -> HTMLResponse:
    """A full page: `layout.html` around `body_template`, with its entry module.

    `script` names the page's one ES module under `/static/`; it imports what
    it needs itself (module scripts run after the page is parsed, like `defer`).
    """
    body = render(body_template, **values)
    nav = render("nav.html") if signed_in else ""
    tag = f'<script type="module" src="/static/{html.escape(script)}"></script>' if script else ""
    # The body and nav are already rendered (escaped) HTML: substitute them raw.
    document = _template("layout.html").substitute(
        title=html.escape(title), nav=nav, body=body, script=tag
    )
    return HTMLResponse(document, status_code=status_code, headers=SECURITY_HEADERS)
