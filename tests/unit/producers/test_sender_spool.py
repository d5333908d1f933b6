"""Envelopes the broker refuses for good go to the spool, not to `failed` (issue 13, item 1).

The classification is the real one (`delivery.settle` with aiokafka's error
classes); the spool is a real directory.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from aiokafka.errors import KafkaTimeoutError, MessageSizeTooLargeError
from aiokafka.errors import TopicAuthorizationFailedError as Unauthorized

from stepmetrics.producers.batcher import Outgoing
from stepmetrics.producers.delivery import settle
from stepmetrics.producers.sender_spool import SenderSpool
from stepmetrics.producers.settings import ProducerSettings
from stepmetrics.producers.spool import SUFFIX, parse

PID = "pid-a"


def _envelopes(n: int) -> list[Outgoing]:
    return [Outgoing(i, f"k{i}".encode(), b"envelope-%d" % i * 20, i + 1, i) for i in range(n)]


def _spool(tmp_path: Path, **settings: object) -> SenderSpool:
    return SenderSpool(ProducerSettings(spool_dir=str(tmp_path), **settings), PID)  # type: ignore[arg-type]


def _identities(path: Path) -> list[tuple[bytes, bytes, int]]:
    return [(out.key, out.data, out.values) for out in parse(path.read_bytes()).records]


def _refuse(spool: SenderSpool, envelopes: list[Outgoing]) -> tuple[int, int]:
    """Settle a send where the broker refused #1 and #3 for good and timed out on #2."""
    errors = [object(), Unauthorized(), KafkaTimeoutError(), MessageSizeTooLargeError()]
    receipt = settle(envelopes, errors)
    assert receipt.given_up == {1, 3}
    assert "MessageSizeTooLargeError" in receipt.refusal
    given_up = [out for out in envelopes if out.number in receipt.given_up]
    return spool.refused(given_up, receipt.refusal)


def test_refused_envelopes_are_spooled_with_their_identity_not_failed(tmp_path: Path) -> None:
    envelopes = _envelopes(4)
    spool = _spool(tmp_path)
    assert _refuse(spool, envelopes) == (2 + 4, 0)
    spool.stop([], [])
    (path,) = tmp_path.glob(f"*{SUFFIX}")
    assert path.name == f"{PID}-refused{SUFFIX}"
    assert parse(path.read_bytes()).topic == ProducerSettings().topic
    assert _identities(path) == [(o.key, o.data, o.values) for o in (envelopes[1], envelopes[3])]


def test_beyond_the_spool_cap_refused_envelopes_are_failed_and_warned(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    envelopes = _envelopes(4)
    spool = _spool(tmp_path, spool_max_bytes=len(envelopes[1].data) + 100)
    spooled, failed = _refuse(spool, envelopes)
    assert (spooled, failed) == (2, 4)  # #1 fits, #3 does not
    assert spool.refused_values == 4
    assert "STEPMETRICS_SPOOL_MAX_BYTES" in caplog.text
    spool.stop([], [])
    (path,) = tmp_path.glob(f"*{SUFFIX}")
    assert _identities(path) == [(envelopes[1].key, envelopes[1].data, 2)]


def test_durable_mode_keeps_refused_envelopes_when_it_empties_its_file(tmp_path: Path) -> None:
    envelopes = _envelopes(4)
    spool = _spool(tmp_path, durability="disk")
    assert spool.keep(envelopes) == 0
    assert _refuse(spool, envelopes) == (6, 0)
    spool.settled([])  # the outbox is empty: the durable file is emptied
    spool.stop([], [])
    (path,) = tmp_path.glob(f"*{SUFFIX}")  # the emptied durable file is removed
    assert path.name == f"{PID}-refused{SUFFIX}"
    assert [key for key, _, _ in _identities(path)] == [b"k1", b"k3"]


def test_nothing_refused_leaves_no_file(tmp_path: Path) -> None:
    spool = _spool(tmp_path)
    receipt = settle(_envelopes(2), [object(), object()])
    assert receipt.given_up == frozenset()
    assert receipt.refusal == ""
    spool.stop([], [])
    assert list(tmp_path.iterdir()) == []
