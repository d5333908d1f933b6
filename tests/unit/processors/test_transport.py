"""The worker's faust transport (the `stepmetrics://` broker URL scheme)."""

from __future__ import annotations


def test_the_worker_transport_is_registered_with_faust() -> None:
    from faust.transport.drivers import by_url

    from stepmetrics.processors.transport import SCHEME, Transport

    assert by_url(f"{SCHEME}://127.0.0.1:9092") is Transport
