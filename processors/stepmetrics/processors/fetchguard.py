"""aiokafka adapter: a compressed batch that inflates past the limit is skipped, not wedged.

aiokafka (0.14) inflates a compressed record batch whole, in one call to
`gzip_decode`, `snappy_decode`, `lz4_decode` or `zstd_decode`, which its
record modules (`aiokafka/record/default_records.py`, `legacy_records.py` and
their Cython twins in `_crecords`) look up as module globals when a batch is
first iterated. And if that call raises, the fetcher's `PartitionRecords`
generator dies with the error and its position stays at the batch: every
later fetch returns the same batch and raises again (the partition wedges).

`install(guard)` changes two things, both in the consumer's process:

1. those four names in the record modules become `InflateGuard`'s bounded
   decompressors (`inflate.py`), which raise `BatchRefusedError` instead of
   materialising more than `guard.limit` bytes (or on undecodable data);
2. `aiokafka.consumer.fetcher.PartitionRecords` becomes a subclass that hands
   aiokafka's own record iteration a view of its batches in which a refused
   batch holds no record. aiokafka's loop then does what it does after any
   batch: moves its position to the batch's `next_offset`. So the partition
   flows on, and the refusal (topic, partition, offset range, reason) is put
   in `guard.refusals` for the worker to dead-letter and count.

No aiokafka code is copied. `install` checks the internals it relies on and
then parses one gzip batch through the patched path with a tiny limit; if
aiokafka changed, the worker fails at start with a `FetchGuardError` naming
what is missing rather than running unguarded.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Iterator
from types import ModuleType
from typing import Any, ClassVar, Final

from aiokafka.consumer import fetcher
from aiokafka.record.default_records import DefaultRecordBatch, DefaultRecordBatchBuilder
from aiokafka.structs import TopicPartition

from stepmetrics.processors.errors import BatchRefusedError, FetchGuardError
from stepmetrics.processors.inflate import INFLATERS
from stepmetrics.processors.refusals import InflateGuard, RefusedBatch

_RECORD_MODULES: Final = (
    "aiokafka.record.default_records",
    "aiokafka.record.legacy_records",
    "aiokafka.record._crecords.default_records",
    "aiokafka.record._crecords.legacy_records",
)
# What aiokafka's `PartitionRecords.__init__` takes (0.11 - 0.14).
_PARTITION_RECORDS_PARAMS: Final = (
    "self",
    "tp",
    "records",
    "aborted_transactions",
    "fetch_offset",
    "key_deserializer",
    "value_deserializer",
    "check_crcs",
    "isolation_level",
)
_ORIGINAL_PARTITION_RECORDS: Final = fetcher.PartitionRecords


class _Current:
    """The installed guard (one per process: aiokafka's modules are)."""

    guard: ClassVar[InflateGuard | None] = None


def _bounded(codec: str) -> Any:
    inflate = INFLATERS[codec]

    def decode(payload: bytes | memoryview) -> bytes:
        guard = _Current.guard
        if guard is None:  # pragma: no cover - installed before it is reachable
            raise FetchGuardError("the inflate guard is not installed")
        return inflate(payload, guard.limit)

    decode.__name__ = f"{codec}_decode"
    decode.__qualname__ = decode.__name__
    return decode


class _GuardedBatch:
    """A record batch whose iteration holds no record if its decompression was refused."""

    __slots__ = ("_batch", "_tp")

    def __init__(self, batch: Any, tp: TopicPartition) -> None:
        self._batch = batch
        self._tp = tp

    def __getattr__(self, name: str) -> Any:
        return getattr(self._batch, name)

    def __next__(self) -> Any:  # aiokafka reads a control batch's record with next()
        return next(self._batch)

    def __iter__(self) -> Iterator[Any]:
        try:
            # v2 batches inflate in __iter__; v0/v1 ones (generators) at the first record.
            records: Iterator[Any] = iter(self._batch)
            if getattr(self._batch, "magic", 0) >= 2:
                return records
            return self._legacy(records)
        except BatchRefusedError as exc:
            self._refuse(exc)
            return iter(())

    def _legacy(self, records: Iterator[Any]) -> Iterator[Any]:
        try:
            yield from records
        except BatchRefusedError as exc:
            self._refuse(exc)

    def _refuse(self, exc: BatchRefusedError) -> None:
        guard = _Current.guard
        if guard is not None:
            # A v0/v1 wrapper message has no base offset: its own (the last) is given.
            last = self._batch.next_offset - 1
            first = getattr(self._batch, "base_offset", last)
            guard.refusals.put(RefusedBatch(self._tp.topic, self._tp.partition, first, last, exc))


class _GuardedRecords:
    """aiokafka's `MemoryRecords` of one fetch, handing out `_GuardedBatch`es."""

    __slots__ = ("_records", "_tp")

    def __init__(self, records: Any, tp: TopicPartition) -> None:
        self._records = records
        self._tp = tp

    def __getattr__(self, name: str) -> Any:
        return getattr(self._records, name)

    def next_batch(self) -> _GuardedBatch | None:
        batch = self._records.next_batch()
        return None if batch is None else _GuardedBatch(batch, self._tp)


class GuardedPartitionRecords(fetcher.PartitionRecords):  # type: ignore[misc]
    """aiokafka's `PartitionRecords` over `_GuardedRecords` (its own iteration, unchanged)."""

    def __init__(self, tp: TopicPartition, records: Any, *args: Any) -> None:
        super().__init__(tp, _GuardedRecords(records, tp), *args)


def install(guard: InflateGuard) -> None:
    """Guard this process's aiokafka consumers with `guard` (idempotent; the last one wins)."""
    modules = _check_internals()
    _Current.guard = guard
    for module in modules:
        for codec in INFLATERS:
            name = f"{codec}_decode"
            if hasattr(module, name):
                setattr(module, name, _bounded(codec))
    fetcher.PartitionRecords = GuardedPartitionRecords
    _self_test(guard)


def _check_internals() -> list[ModuleType]:
    params = tuple(inspect.signature(_ORIGINAL_PARTITION_RECORDS.__init__).parameters)
    if params != _PARTITION_RECORDS_PARAMS or not hasattr(
        _ORIGINAL_PARTITION_RECORDS, "_unpack_records"
    ):
        raise FetchGuardError(
            f"aiokafka's fetcher.PartitionRecords changed (takes {params}; expected "
            f"{_PARTITION_RECORDS_PARAMS} and an _unpack_records method): the inflate guard "
            "cannot be installed; check stepmetrics.processors.fetchguard against this aiokafka"
        )
    modules = []
    for path in _RECORD_MODULES:
        try:
            module = importlib.import_module(path)
        except ImportError:  # the Cython twins are optional (AIOKAFKA_NO_EXTENSIONS)
            continue
        if not hasattr(module, "gzip_decode"):
            raise FetchGuardError(f"{path} has no gzip_decode: aiokafka's codec lookup changed")
        modules.append(module)
    return modules


def _self_test(guard: InflateGuard) -> None:
    """Parse a 4 kB gzip batch with a 1 kB limit through aiokafka's fetch path."""
    builder = DefaultRecordBatchBuilder(
        magic=2,
        compression_type=DefaultRecordBatch.CODEC_GZIP,
        is_transactional=0,
        producer_id=-1,
        producer_epoch=-1,
        base_sequence=-1,
        batch_size=1 << 20,
    )
    builder.append(0, timestamp=None, key=None, value=b"\x00" * 4096, headers=[])
    probe = InflateGuard(limit=1024)
    tp = TopicPartition("stepmetrics-self-test", 0)
    _Current.guard = probe
    try:
        records = fetcher.PartitionRecords(
            tp, fetcher.MemoryRecords(bytes(builder.build())), None, 0, None, None, True, 0
        )
        delivered = list(records)
    finally:
        _Current.guard = guard
    refused = probe.refusals.take()[0]
    if delivered or len(refused) != 1 or records.next_fetch_offset != 1:
        raise FetchGuardError(
            "aiokafka's fetch path did not refuse an oversized gzip batch through the inflate "
            f"guard (records={len(delivered)}, refusals={len(refused)}, "
            f"next offset={records.next_fetch_offset}): its internals changed"
        )
