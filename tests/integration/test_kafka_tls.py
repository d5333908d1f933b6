"""Kafka over TLS for real: stunnel4 in front of the test broker, a throwaway CA.

The whole pipeline (SDK step process -> broker -> worker -> Redis -> reader
API) runs over TLS with CA verification and the host name check, once with
server authentication only and once with mutual TLS (stunnel `verify = 2`:
no client certificate, no connection). A client that trusts another CA, or
connects to a name the certificate does not carry, is refused with an error
that says so.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest

from stepmetrics.cli.exit_codes import EXIT_USAGE
from stepmetrics.processors.errors import TopicSetupError
from stepmetrics.processors.topics import create_missing_topics
from stepmetrics.producers.security import (
    SECURITY_PROTOCOL,
    SSL_CAFILE,
    SSL_CERTFILE,
    SSL_KEYFILE,
    KafkaSecurity,
)
from tests.support.redis_targets import RedisTarget
from tests.support.tls import Certificates, TlsBroker, start_tls_broker
from tests.support.web_stack import start_web_stack
from tests.support.worker import run_worker

SCALARS = """
from stepmetrics.sdk import CraftAiSdk
sdk = CraftAiSdk()
sdk.record_metric_value("accuracy", 0.5)
sdk.record_list_metric_values("loss", [3.0, 2.0, 1.0])
"""


@pytest.fixture(scope="module")
def brokers(
    tmp_path_factory: pytest.TempPathFactory, certs: Certificates
) -> Iterator[dict[bool, TlsBroker]]:
    """By "mutual": False, server authentication only (what managed Kafka
    usually offers); True, stunnel also refuses a client without a
    certificate the CA signed."""
    started: dict[bool, TlsBroker] = {}
    try:
        for mutual in (False, True):
            workdir = tmp_path_factory.mktemp("mtls" if mutual else "tls")
            started[mutual] = start_tls_broker(workdir, certs, require_client_cert=mutual)
        yield started
    finally:
        for broker in started.values():
            broker.stop()


@pytest.fixture(scope="module")
def tls_broker(brokers: dict[bool, TlsBroker]) -> TlsBroker:
    return brokers[False]


def tls_env(ca: Path, client: Certificates | None = None) -> dict[str, str]:
    """The security variables of a TLS client trusting `ca` (with `client`'s certificate)."""
    env = {SECURITY_PROTOCOL.name: "SSL", SSL_CAFILE.name: str(ca)}
    if client is not None:
        env |= {
            SSL_CERTFILE.name: str(client.client_cert),
            SSL_KEYFILE.name: str(client.client_key),
        }
    return env


@pytest.mark.parametrize("mutual", [False, True], ids=["server-auth", "mutual-tls"])
def test_the_pipeline_runs_over_tls(
    tmp_path: Path,
    brokers: dict[bool, TlsBroker],
    certs: Certificates,
    redis_target: RedisTarget,
    mutual: bool,
) -> None:
    broker = brokers[mutual]
    env = tls_env(certs.ca, certs if mutual else None)
    stack = start_web_stack(tmp_path, broker.address, redis_target, env)
    try:
        stack.step("exec-tls-1", SCALARS, pipeline="tls-pipeline", deployment="tls-deployment")
        doc = stack.wait_for(
            "exec-tls-1", lambda d: (d["scalar_count"], d["list_count"]) == (1, 1), timeout=60
        )
    finally:
        stack.stop()
    assert doc["pipeline_name"] == "tls-pipeline"
    # Every byte went through stunnel: the broker's plain port was never
    # advertised, so the clients' reconnects after bootstrap used TLS too.
    tunnel_log = broker.stunnel.log_since_start()
    assert "Service [kafka] accepted connection" in tunnel_log
    assert ("Certificate accepted" in tunnel_log) == mutual


async def test_a_broker_signed_by_another_ca_is_refused(
    tls_broker: TlsBroker, certs: Certificates
) -> None:
    security = KafkaSecurity("SSL", ssl_cafile=str(certs.other_ca))
    with pytest.raises(TopicSetupError) as refused:
        await create_missing_topics(tls_broker.address, ["never-made"], 1, security=security)
    message = str(refused.value)
    assert "CERTIFICATE_VERIFY_FAILED" in message
    assert SSL_CAFILE.name in message


async def test_the_host_name_is_checked(tls_broker: TlsBroker, certs: Certificates) -> None:
    # The certificate names 127.0.0.1 and localhost; the same server reached
    # under another name must be refused even though the CA is right.
    context = KafkaSecurity("SSL", ssl_cafile=str(certs.ca)).ssl_context()
    host, port = tls_broker.address.rsplit(":", 1)
    with pytest.raises(
        ssl.SSLCertVerificationError, match=r"Hostname mismatch|IP address mismatch"
    ):
        await asyncio.open_connection(host, int(port), ssl=context, server_hostname="kafka.invalid")
    _, writer = await asyncio.open_connection("localhost", int(port), ssl=context)
    writer.close()
    await writer.wait_closed()


async def test_mutual_tls_refuses_a_client_without_certificate(
    brokers: dict[bool, TlsBroker], certs: Certificates
) -> None:
    security = KafkaSecurity("SSL", ssl_cafile=str(certs.ca))
    with pytest.raises(TopicSetupError, match="certificate required"):
        await create_missing_topics(brokers[True].address, ["never-made"], 1, security=security)


def test_the_worker_stops_at_start_up_on_a_wrong_ca(
    tls_broker: TlsBroker, certs: Certificates
) -> None:
    env = {"PATH": "/usr/bin:/bin", "STEPMETRICS_KAFKA_BOOTSTRAP": tls_broker.address}
    done = run_worker(env | tls_env(certs.other_ca))
    assert done.returncode == EXIT_USAGE, done.stderr[-2000:]
    assert "CERTIFICATE_VERIFY_FAILED" in done.stderr
    assert SSL_CAFILE.name in done.stderr
