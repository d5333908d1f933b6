"""SASL (SCRAM) against the real broker in `--authentication` mode, as far as it goes.

The test broker (Tansu 0.6) cannot hold a SCRAM user for an authenticating
broker (docs/deployment.md, "What the test suite runs"): without
`--authentication` it offers no SASL mechanism at all, with it `tansu user
create` is refused as unauthenticated, and its users live in the memory of
one broker process. So these tests run the SCRAM exchange up to the broker's
refusal of the unknown user: they show that the worker's topic
administration and the SDK speak SCRAM with the configured settings, fail
at start-up with an error that says why, and never print the password.
(tests/unit/processors/test_transport.py checks that the same settings
reach faust's consumer and producer unchanged.)
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from stepmetrics.cli.exit_codes import EXIT_USAGE
from stepmetrics.producers.batcher import Outgoing
from stepmetrics.producers.delivery import Delivery
from stepmetrics.producers.security import (
    SASL_MECHANISM,
    SASL_PASSWORD,
    SASL_USERNAME,
    SECURITY_PROTOCOL,
    KafkaSecurity,
)
from stepmetrics.stack.services import ManagedProcess, free_port, start_broker
from tests.support.sdk import settings_for
from tests.support.worker import run_worker

PASSWORD = "scram-pa55word-never-printed"  # noqa: S105 (a test secret)
SCRAM = {
    SECURITY_PROTOCOL.name: "SASL_PLAINTEXT",
    SASL_MECHANISM.name: "SCRAM-SHA-256",
    SASL_USERNAME.name: "stepmetrics-worker",
    SASL_PASSWORD.name: PASSWORD,
}


@pytest.fixture(scope="module")
def auth_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ManagedProcess]:
    broker = start_broker(tmp_path_factory.mktemp("sasl"), free_port(), authentication=True)
    yield broker
    broker.stop()


def test_the_worker_speaks_scram_and_says_why_it_was_refused(auth_broker: ManagedProcess) -> None:
    env = {"PATH": "/usr/bin:/bin", "STEPMETRICS_KAFKA_BOOTSTRAP": auth_broker.address, **SCRAM}
    env["STEPMETRICS_WORKER_LOG_LEVEL"] = "debug"
    done = run_worker(env)
    assert done.returncode == EXIT_USAGE, done.stderr[-2000:]
    assert "SCRAM reply without server signature" in done.stderr
    assert SASL_PASSWORD.name in done.stderr
    assert PASSWORD not in done.stdout + done.stderr


async def test_the_sdk_speaks_scram_and_never_logs_the_password(
    auth_broker: ManagedProcess, caplog: pytest.LogCaptureFixture
) -> None:
    security = KafkaSecurity.from_env(SCRAM)
    settings = settings_for(auth_broker.address, "never-written", security=security)
    delivery = Delivery(settings)
    caplog.set_level(logging.DEBUG)
    try:
        receipt = await delivery.send([Outgoing(0, b"k", b"v", 1, 0)])
    finally:
        await delivery.stop()
    assert receipt.settled == frozenset()  # refused: left to a retry, nothing lost
    assert "KeyError" in caplog.text  # the SCRAM client's failure, from the broker's reply
    assert PASSWORD not in caplog.text
