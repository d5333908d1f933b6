"""The spool file format, its writer, and offline mode (no broker at all)."""

from __future__ import annotations

import fcntl
import logging
import os
from pathlib import Path

import pytest

from stepmetrics.producers.batcher import Outgoing
from stepmetrics.producers.context import step_context
from stepmetrics.producers.events import decode_envelope
from stepmetrics.producers.recorder import Recorder
from stepmetrics.producers.settings import ProducerSettings
from stepmetrics.producers.spool import SpoolWriter, encode_header, encode_record, parse


def _envelopes(n: int) -> list[Outgoing]:
    return [Outgoing(i, f"k{i}".encode(), b"v" * (i * 7 % 40 + 1), i + 1, i) for i in range(n)]


def _file(envelopes: list[Outgoing]) -> bytes:
    return encode_header("topic-a") + b"".join(encode_record(out) for out in envelopes)


def test_records_round_trip_with_their_exact_bytes_keys_and_counts() -> None:
    envelopes = _envelopes(20)
    contents = parse(_file(envelopes))
    assert contents.topic == "topic-a"
    assert contents.records == envelopes
    assert contents.damaged_bytes == 0


def test_a_file_cut_at_any_byte_keeps_exactly_its_complete_records() -> None:
    envelopes = _envelopes(6)
    data = _file(envelopes)
    ends = [len(_file(envelopes[:k])) for k in range(len(envelopes) + 1)]
    for cut in range(len(data) + 1):
        contents = parse(data[:cut])
        complete = sum(1 for end in ends[1:] if end <= cut)
        if cut < ends[0]:  # the header itself is cut: nothing is intact
            assert (contents.topic, contents.records, contents.intact_bytes) == ("", [], 0)
            continue
        assert contents.records == envelopes[:complete], cut
        assert contents.intact_bytes == ends[complete]
        assert contents.damaged_bytes == cut - ends[complete]


def test_a_flipped_byte_ends_the_intact_part_at_its_record() -> None:
    envelopes = _envelopes(5)
    data = bytearray(_file(envelopes))
    third = len(_file(envelopes[:2]))
    data[third + 20] ^= 0x01
    contents = parse(bytes(data))
    assert contents.records == envelopes[:2]
    assert contents.intact_bytes == third


def test_the_writer_holds_a_lock_and_removes_an_empty_file(tmp_path: Path) -> None:
    writer = SpoolWriter(str(tmp_path), "pid1", "t", max_bytes=1 << 20)
    assert writer.append(_envelopes(3)) == []
    writer.sync()
    fd = os.open(writer.path, os.O_RDONLY)
    try:
        with pytest.raises(BlockingIOError):
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        os.close(fd)
    assert parse(writer.path.read_bytes()).records == _envelopes(3)
    writer.rewrite(_envelopes(3)[2:])
    assert [r.key for r in parse(writer.path.read_bytes()).records] == [b"k2"]
    writer.reset()
    writer.close()
    assert not writer.path.exists()


def test_the_size_cap_refuses_what_does_not_fit(tmp_path: Path) -> None:
    (tmp_path / "other.spool").write_bytes(b"x" * 100)
    envelopes = _envelopes(10)
    cap = 100 + len(_file(envelopes[:4]))
    writer = SpoolWriter(str(tmp_path), "pid1", "topic-a", max_bytes=cap)
    refused = writer.append(envelopes)
    assert refused == envelopes[4:]
    writer.close()
    assert parse(writer.path.read_bytes()).records == envelopes[:4]


def _offline(tmp_path: Path, spool_max_bytes: int = 1 << 30) -> Recorder:
    settings = ProducerSettings(
        bootstrap="127.0.0.1:1",
        spool_dir=str(tmp_path),
        mode="offline",
        spool_max_bytes=spool_max_bytes,
    )
    return Recorder(settings)


def test_offline_mode_spools_every_value_without_a_broker(tmp_path: Path) -> None:
    recorder = _offline(tmp_path)
    with step_context("exec-off", "p") as ctx:
        for i in range(5):
            assert recorder.record_scalar(ctx, f"m{i}", float(i))
        assert recorder.record_list(ctx, "l", [1.0, 2.0])
    assert recorder.flush(10)
    assert recorder.close(10)
    stats = recorder.stats()
    assert (stats.recorded, stats.spooled, stats.failed, stats.pending) == (7, 7, 0, 0)
    [path] = tmp_path.glob("*.spool")
    contents = parse(path.read_bytes())
    assert contents.topic == "stepmetrics.events"
    events = [e for out in contents.records for e in decode_envelope(out.data).events]
    assert [(e[1], e[3]) for e in events] == [
        *((f"m{i}", float(i)) for i in range(5)),
        ("l", [1.0, 2.0]),
    ]


def test_offline_mode_beyond_the_cap_counts_and_warns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    recorder = _offline(tmp_path, spool_max_bytes=300)
    with caplog.at_level(logging.WARNING), step_context("exec-cap", "p") as ctx:
        for i in range(20):
            assert recorder.record_scalar(ctx, "m", float(i))
            assert recorder.flush(10)
    recorder.close(10)
    stats = recorder.stats()
    assert stats.spooled + stats.failed == 20
    assert 0 < stats.spooled < 20
    assert "STEPMETRICS_SPOOL_MAX_BYTES=300" in caplog.text
    assert sum(p.stat().st_size for p in tmp_path.glob("*.spool")) <= 300
