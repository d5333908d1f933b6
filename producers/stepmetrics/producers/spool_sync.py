"""Send what a spool directory holds: `stepmetrics sync`, and the SDK at start.

Files are taken oldest first, each under an exclusive non-blocking
`fcntl.flock`: a file locked by its writer (a running step) or by another
sync is skipped, so two syncs never send the same file at once. Within a
file, envelopes go oldest first, in chunks; the file is removed once every
envelope is acknowledged, or rewritten with only the unacknowledged ones. An
envelope sent twice (a sync killed between the ack and the removal) carries
the same identity both times, and the worker applies it once. A damaged tail
(see `spool.parse`) is moved to `<file>.damaged` and reported, never dropped.
"""

from __future__ import annotations

import asyncio
import dataclasses
import fcntl
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from stepmetrics.producers.batcher import Outgoing
from stepmetrics.producers.delivery import Delivery
from stepmetrics.producers.settings import ProducerSettings
from stepmetrics.producers.spool import (
    DAMAGED_SUFFIX,
    MAGIC,
    SUFFIX,
    SpoolContents,
    encode_header,
    encode_record,
    parse,
)

log = logging.getLogger(__name__)

CHUNK: Final = 500  # envelopes per send
ROUNDS: Final = 5  # send attempts of an unacknowledged envelope per sync
_FIRST_BACKOFF: Final = 0.1

Progress = Callable[[str], object]


@dataclass
class SyncReport:
    """What one sync did.

    Attributes:
        files: spool files sent completely (and removed).
        envelopes: envelopes acknowledged; values: their metric values.
        left: envelopes still unacknowledged, kept in their file (`refused` included).
        refused: of those, envelopes refused for good (a fatal
            error, `refusal` the last one): fix the cause, then sync again.
        busy: files skipped because another process holds their lock.
        damaged: `.damaged` files written, with the bytes each holds.
    """

    files: int = 0
    envelopes: int = 0
    values: int = 0
    left: int = 0
    refused: int = 0
    refusal: str = ""
    busy: list[str] = field(default_factory=list)
    damaged: list[tuple[str, int]] = field(default_factory=list)


async def sync_directory(
    settings: ProducerSettings,
    progress: Progress | None = None,
    topic: str | None = None,
) -> SyncReport:
    """Send every spool file of `settings.spool_directory()` (only those of `topic`, if given)."""
    report = SyncReport()
    for path in spool_files(Path(settings.spool_directory())):
        await _sync_file(settings, path, report, progress or _quiet, topic)
    return report


def spool_files(directory: Path) -> list[Path]:
    """The spool files of `directory`, oldest first."""
    if not directory.is_dir():
        return []
    return sorted(directory.glob(f"*{SUFFIX}"), key=_mtime)


async def _sync_file(
    settings: ProducerSettings,
    path: Path,
    report: SyncReport,
    progress: Progress,
    topic: str | None,
) -> None:
    opened = _open_locked(path, report)
    if opened is None:
        return
    fd, contents = opened
    try:
        if topic is not None and contents.topic != topic:
            return
        if contents.damaged_bytes:
            report.damaged.append(_set_aside(path, fd, contents.intact_bytes, contents.size))
        if not contents.records and not contents.topic:
            _finish(path, "", [], report)  # nothing intact; the damaged bytes are set aside
            return
        delivery = Delivery(dataclasses.replace(settings, topic=contents.topic))
        try:
            left = await _send_all(delivery, contents.records, report, progress, path)
        finally:
            await delivery.stop()
        _finish(path, contents.topic, left, report)
    finally:
        os.close(fd)


def _open_locked(path: Path, report: SyncReport) -> tuple[int, SpoolContents] | None:
    """Open and lock `path` and read it; None if it is gone or busy (reported)."""
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:  # sent and removed by another sync meanwhile
        return None
    if not _lock(fd, path):
        os.close(fd)
        report.busy.append(str(path))
        return None
    return fd, parse(_read_all(fd))


async def _send_all(
    delivery: Delivery,
    records: list[Outgoing],
    report: SyncReport,
    progress: Progress,
    path: Path,
) -> list[Outgoing]:
    """Send `records` in chunks; returns those not acknowledged (kept for a later sync)."""
    left: list[Outgoing] = []
    for start in range(0, len(records), CHUNK):
        pending = records[start : start + CHUNK]
        for attempt in range(ROUNDS):
            if attempt:
                await asyncio.sleep(_FIRST_BACKOFF * 2**attempt)
            receipt = await delivery.send(pending)
            acked = receipt.settled - receipt.given_up
            report.envelopes += len(acked)
            report.values += receipt.delivered
            # Given up (a fatal error) is not acknowledged: it stays in the spool.
            left.extend(out for out in pending if out.number in receipt.given_up)
            if receipt.given_up:
                report.refused += len(receipt.given_up)
                report.refusal = receipt.refusal
            pending = [out for out in pending if out.number not in receipt.settled]
            if not pending:
                break
        left.extend(pending)
        progress(f"{path.name}: {min(start + CHUNK, len(records))}/{len(records)} envelopes")
    return left


def _finish(path: Path, topic: str, left: list[Outgoing], report: SyncReport) -> None:
    if not left:
        path.unlink()
        report.files += 1
        return
    # Keep only what is unacknowledged: a new file, renamed over the old one.
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(encode_header(topic) + b"".join(encode_record(out) for out in left))
    with tmp.open("rb") as f:
        os.fsync(f.fileno())
    tmp.replace(path)
    report.left += len(left)


def _lock(fd: int, path: Path) -> bool:
    """Lock `fd` if nobody holds it and `path` still names it (not replaced meanwhile)."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    try:
        return os.stat(path).st_ino == os.fstat(fd).st_ino
    except FileNotFoundError:
        return False


def _set_aside(path: Path, fd: int, intact: int, size: int) -> tuple[str, int]:
    """Copy the damaged tail to `<file>.damaged` (never overwriting one), then cut it off."""
    os.lseek(fd, intact, os.SEEK_SET)
    tail = os.read(fd, size - intact)
    target = path.with_name(path.name + DAMAGED_SUFFIX)
    n = 1
    while target.exists():
        target = path.with_name(f"{path.name}.{n}{DAMAGED_SUFFIX}")
        n += 1
    target.write_bytes(tail)
    if intact >= len(MAGIC):
        os.ftruncate(fd, intact)
    log.warning(
        "stepmetrics: spool file %s is damaged from byte %d: %d byte(s) kept in %s",
        path,
        intact,
        len(tail),
        target,
    )
    return str(target), len(tail)


def _read_all(fd: int) -> bytes:
    os.lseek(fd, 0, os.SEEK_SET)
    chunks: list[bytes] = []
    while chunk := os.read(fd, 1 << 20):
        chunks.append(chunk)
    return b"".join(chunks)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return 0.0


def _quiet(_: str) -> None:
    return None
