"""The inflate guard inside aiokafka's real fetch path (records built with aiokafka's builders)."""

from __future__ import annotations

import importlib
import struct
from collections.abc import Iterator

import pytest
from aiokafka.consumer import fetcher
from aiokafka.record.default_records import DefaultRecordBatch, DefaultRecordBatchBuilder
from aiokafka.record.legacy_records import LegacyRecordBatchBuilder
from aiokafka.record.util import calc_crc32c
from aiokafka.structs import TopicPartition

from stepmetrics.processors import fetchguard
from stepmetrics.processors.errors import (
    FetchGuardError,
    InflatesPastLimitError,
    UndecodableBatchError,
)
from stepmetrics.processors.refusals import InflateGuard, RefusalQueue, RefusedBatch

LIMIT = 1 << 20
TP = TopicPartition("metrics", 3)
_CODECS = ("gzip_decode", "snappy_decode", "lz4_decode", "zstd_decode")


@pytest.fixture
def restore_aiokafka() -> Iterator[None]:
    """Put back what `install` replaces, so each test starts from aiokafka as shipped."""
    saved = []
    for path in fetchguard._RECORD_MODULES:
        try:
            module = importlib.import_module(path)
        except ImportError:
            continue
        saved += [(module, n, getattr(module, n)) for n in _CODECS if hasattr(module, n)]
    partition_records = fetcher.PartitionRecords
    yield
    for module, name, value in saved:
        setattr(module, name, value)
    fetcher.PartitionRecords = partition_records


def _batch(base: int, values: list[bytes], codec: int = DefaultRecordBatch.CODEC_NONE) -> bytes:
    builder = DefaultRecordBatchBuilder(
        magic=2,
        compression_type=codec,
        is_transactional=0,
        producer_id=-1,
        producer_epoch=-1,
        base_sequence=-1,
        batch_size=1 << 30,
    )
    for delta, value in enumerate(values):
        builder.append(delta, timestamp=None, key=None, value=value, headers=[])
    buffer = bytearray(builder.build())
    struct.pack_into(">q", buffer, 0, base)  # the base offset is not covered by the CRC
    return bytes(buffer)


def _garbage_gzip_batch(base: int) -> bytes:
    """A batch that says gzip but holds plain records, with a valid CRC (a producer can)."""
    buffer = bytearray(_batch(base, [b"not gzip data"]))
    struct.pack_into(">h", buffer, 21, 1)  # attributes: codec gzip
    struct.pack_into(">I", buffer, 17, calc_crc32c(bytes(buffer[21:])))
    return bytes(buffer)


def _legacy(offset: int, value: bytes, codec: int) -> bytes:
    builder = LegacyRecordBatchBuilder(magic=1, compression_type=codec, batch_size=1 << 30)
    builder.append(0, timestamp=None, key=None, value=value)
    buffer = bytearray(builder.build())
    struct.pack_into(">q", buffer, 0, offset)  # a v1 message's CRC starts after its offset
    return bytes(buffer)


def _partition_records(data: bytes, fetch_offset: int = 0) -> fetcher.PartitionRecords:
    return fetcher.PartitionRecords(
        TP, fetcher.MemoryRecords(data), None, fetch_offset, None, None, True, 0
    )


@pytest.mark.usefixtures("restore_aiokafka")
def test_refused_batches_are_skipped_and_the_partition_flows_on() -> None:
    guard = InflateGuard(limit=LIMIT)
    fetchguard.install(guard)
    zstd, gzip = DefaultRecordBatch.CODEC_ZSTD, DefaultRecordBatch.CODEC_GZIP
    data = (
        _batch(0, [b"good-0"])
        + _batch(1, [bytes(64 * LIMIT), b"after the bomb, same batch"], zstd)
        + _batch(3, [b"good-3", b"good-4"], gzip)  # compressed and within the limit
        + _garbage_gzip_batch(5)
        + _batch(6, [b"good-6"])
    )
    records = _partition_records(data)
    assert [(r.offset, r.value) for r in records] == [
        (0, b"good-0"),
        (3, b"good-3"),
        (4, b"good-4"),
        (6, b"good-6"),
    ]
    assert records.next_fetch_offset == 7
    refused, untold = guard.refusals.take()
    assert untold == 0
    assert [(r.topic, r.partition, r.first_offset, r.last_offset) for r in refused] == [
        ("metrics", 3, 1, 2),
        ("metrics", 3, 5, 5),
    ]
    assert [type(r.error) for r in refused] == [InflatesPastLimitError, UndecodableBatchError]
    assert refused[0].reason.startswith("refused: zstd batch of ")
    assert refused[0].reason.endswith(f"inflates past {LIMIT} bytes "
                                      "(STEPMETRICS_MAX_BATCH_INFLATED_BYTES); "
                                      "offsets 1..2 skipped unread")  # fmt: skip
    assert refused[1].reason.startswith("refused: gzip batch of ")
    assert "cannot be decompressed: " in refused[1].reason


@pytest.mark.usefixtures("restore_aiokafka")
def test_a_v1_compressed_message_that_inflates_past_the_limit_is_skipped() -> None:
    guard = InflateGuard(limit=LIMIT)
    fetchguard.install(guard)
    data = _legacy(0, b"v1-0", 0) + _legacy(1, bytes(4 * LIMIT), 1) + _legacy(2, b"v1-2", 1)
    records = _partition_records(data)
    assert [(r.offset, r.value) for r in records] == [(0, b"v1-0"), (2, b"v1-2")]
    [refusal] = guard.refusals.take()[0]
    assert (refusal.first_offset, refusal.last_offset) == (1, 1)  # the wrapper's own offset


@pytest.mark.usefixtures("restore_aiokafka")
def test_a_fetch_that_starts_inside_a_refused_batch_moves_past_it() -> None:
    guard = InflateGuard(limit=LIMIT)
    fetchguard.install(guard)
    bomb = _batch(10, [bytes(8 * LIMIT)] * 3, DefaultRecordBatch.CODEC_GZIP)
    records = _partition_records(bomb + _batch(13, [b"next"]), fetch_offset=11)
    assert [r.offset for r in records] == [13]
    [refusal] = guard.refusals.take()[0]
    assert (refusal.first_offset, refusal.last_offset) == (10, 12)


def test_the_queue_keeps_at_most_its_capacity_and_counts_the_rest() -> None:
    queue = RefusalQueue(capacity=2)
    error = InflatesPastLimitError("gzip", 10, LIMIT)
    for offset in range(5):
        queue.put(RefusedBatch("t", 0, offset, offset, error))
    kept, untold = queue.take()
    assert ([r.first_offset for r in kept], untold) == ([0, 1], 3)
    assert queue.take() == ([], 0)


@pytest.mark.usefixtures("restore_aiokafka")
def test_a_changed_partition_records_signature_fails_installation(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Changed:
        def __init__(self, tp: object, records: object, options: object) -> None: ...

    monkeypatch.setattr(fetchguard, "_ORIGINAL_PARTITION_RECORDS", Changed)
    with pytest.raises(FetchGuardError, match="PartitionRecords changed"):
        fetchguard.install(InflateGuard())


@pytest.mark.usefixtures("restore_aiokafka")
def test_a_codec_lookup_the_guard_does_not_reach_fails_the_self_test(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # As if aiokafka stopped looking its codecs up in the modules the guard patches.
    monkeypatch.setattr(fetchguard, "_RECORD_MODULES", ())
    with pytest.raises(FetchGuardError, match="did not refuse an oversized gzip batch"):
        fetchguard.install(InflateGuard())
