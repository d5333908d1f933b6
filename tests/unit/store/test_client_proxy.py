"""The query library keeps its bearer token away from HTTP(S)_PROXY for loopback URLs.

A real proxy process (a tiny one, below) logs every request it gets; the same
script serves as the "API" (an empty page) for requests in origin form.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from stepmetrics.store.client import AsyncMetricsClient, MetricsClient, is_loopback
from stepmetrics.store.errors import ApiError
from stepmetrics.store.settings import ClientSettings

TOKEN = "proxy-test-token-7f3a"  # noqa: S105 - a test value
# Logs "<request line> <authorization>" per request; a proxy-form request (an
# absolute URL) gets a 502, any other an empty page of metrics.
_SERVER = r"""
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        with open(sys.argv[1], "a") as log:
            log.write(f"{self.requestline} {self.headers.get('authorization')}\n")
        proxied = self.path.startswith("http")
        body = b'{"error": "proxy"}' if proxied else b'{"items": [], "next_cursor": null}'
        self.send_response(502 if proxied else 200)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
"""


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[[str], tuple[str, Path]]]:
    """Start the tiny server; return its URL and its request log."""
    procs: list[subprocess.Popen[str]] = []

    def start(name: str) -> tuple[str, Path]:
        log = tmp_path / f"{name}.log"
        log.touch()
        proc = subprocess.Popen(
            [sys.executable, "-c", _SERVER, str(log)], stdout=subprocess.PIPE, text=True
        )
        procs.append(proc)
        assert proc.stdout is not None
        return f"http://127.0.0.1:{int(proc.stdout.readline())}", log

    yield start
    for proc in procs:
        proc.kill()
        proc.wait()
        assert proc.stdout is not None
        proc.stdout.close()


@pytest.fixture
def proxy_log(serve: Callable[[str], tuple[str, Path]], monkeypatch: pytest.MonkeyPatch) -> Path:
    """HTTP_PROXY and HTTPS_PROXY point at a logging proxy; NO_PROXY is unset."""
    url, log = serve("proxy")
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", url)
    monkeypatch.setenv("HTTPS_PROXY", url)
    return log


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_loopback_requests_bypass_the_proxy(
    host: str, proxy_log: Path, serve: Callable[[str], tuple[str, Path]]
) -> None:
    api_url, api_log = serve("api")
    settings = ClientSettings(token=TOKEN, api_url=api_url.replace("127.0.0.1", host))
    with MetricsClient(settings) as client:
        assert client.get_metrics() == []
    async with AsyncMetricsClient(settings) as aclient:
        assert await aclient.get_list_metrics() == []
    assert await asyncio.to_thread(proxy_log.read_text) == ""
    assert (await asyncio.to_thread(api_log.read_text)).count(TOKEN) == 2


async def test_other_hosts_still_use_the_proxy(proxy_log: Path) -> None:
    settings = ClientSettings(token=TOKEN, api_url="http://stepmetrics-api.invalid:8080")
    with MetricsClient(settings) as client, pytest.raises(ApiError, match="answered 502"):
        client.get_metrics()
    async with AsyncMetricsClient(settings) as aclient:
        with pytest.raises(ApiError, match="answered 502"):
            await aclient.get_metrics()
    lines = (await asyncio.to_thread(proxy_log.read_text)).splitlines()
    assert len(lines) == 2
    assert all(
        line.startswith("GET http://stepmetrics-api.invalid:8080/api/v1/metrics?") for line in lines
    )


@pytest.mark.parametrize(
    ("url", "loopback"),
    [
        ("http://127.0.0.1:8080", True),
        ("http://127.9.8.7", True),
        ("http://[::1]:8080", True),
        ("https://LOCALHOST.", True),
        ("http://api.localhost", True),
        ("http://10.0.0.1", False),
        ("http://example.com", False),
        ("http://localhost.example.com", False),
    ],
)
def test_is_loopback(url: str, loopback: bool) -> None:
    assert is_loopback(url) is loopback
