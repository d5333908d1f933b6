"""The spool: append-only files of encoded envelopes, for later delivery.

One file per producer instance (`<producer_id>.spool`), held under an
exclusive `fcntl.flock` by whoever writes or syncs it. A file is a header
(magic, destination topic, CRC32) then records, each

    key length (u32) | value length (u32) | metric values (u32) | CRC32 (u32) | key | value

with the CRC32 over the three lengths, the key and the value. The value is the
envelope exactly as encoded (same `producer_id:seq`), so a later delivery of
an envelope that already reached the topic is a duplicate the worker skips.
A reader stops at the first record whose length or checksum is wrong: that
is the damaged tail of a file cut short (power loss mid-write).
"""

from __future__ import annotations

import fcntl
import os
import struct
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from stepmetrics.producers.batcher import Outgoing

MAGIC: Final = b"SMSPOOL1"
SUFFIX: Final = ".spool"
DAMAGED_SUFFIX: Final = ".damaged"
_RECORD: Final = struct.Struct(">IIII")
_TOPIC_LEN: Final = struct.Struct(">HI")  # topic length, CRC32 of magic + topic


def encode_record(out: Outgoing) -> bytes:
    """One framed record of `out` (its key, its exact bytes, its value count)."""
    lengths = struct.pack(">III", len(out.key), len(out.data), out.values)
    crc = zlib.crc32(out.data, zlib.crc32(out.key, zlib.crc32(lengths)))
    return lengths + struct.pack(">I", crc) + out.key + out.data


def encode_header(topic: str) -> bytes:
    name = topic.encode()
    return MAGIC + _TOPIC_LEN.pack(len(name), zlib.crc32(MAGIC + name)) + name


@dataclass(frozen=True, slots=True)
class SpoolContents:
    """What a spool file holds.

    Attributes:
        topic: where its envelopes were headed ("" if the header is damaged).
        records: the intact envelopes, oldest first (`number` is their index;
            `seq` too: the wire seq stays inside the bytes).
        intact_bytes: length of the intact prefix; the rest is damaged.
        size: the file's length.
    """

    topic: str
    records: list[Outgoing]
    intact_bytes: int
    size: int

    @property
    def damaged_bytes(self) -> int:
        return self.size - self.intact_bytes


def parse(data: bytes) -> SpoolContents:
    """Decode a spool file's bytes, stopping at the first damaged record."""
    head = len(MAGIC) + _TOPIC_LEN.size
    if len(data) < head or not data.startswith(MAGIC):
        return SpoolContents("", [], 0, len(data))
    name_len, crc = _TOPIC_LEN.unpack_from(data, len(MAGIC))
    name = data[head : head + name_len]
    if len(name) != name_len or zlib.crc32(MAGIC + name) != crc:
        return SpoolContents("", [], 0, len(data))
    pos = head + name_len
    records: list[Outgoing] = []
    while pos + _RECORD.size <= len(data):
        key_len, value_len, values, crc = _RECORD.unpack_from(data, pos)
        end = pos + _RECORD.size + key_len + value_len
        if end > len(data):
            break
        key = data[pos + _RECORD.size : pos + _RECORD.size + key_len]
        value = data[pos + _RECORD.size + key_len : end]
        lengths = data[pos : pos + 12]
        if zlib.crc32(value, zlib.crc32(key, zlib.crc32(lengths))) != crc:
            break
        records.append(Outgoing(len(records), key, value, values, seq=len(records)))
        pos = end
    return SpoolContents(name.decode(errors="replace"), records, pos, len(data))


class SpoolWriter:
    """Appends envelopes to `<directory>/<producer_id>.spool`, under an exclusive lock.

    `append` writes, `sync` fsyncs (in groups: once per call, not per record),
    `reset` empties the file (every envelope in it was acknowledged), `close`
    releases the lock and removes the file when it holds no envelope. Writes
    that would take the directory beyond `max_bytes` are refused: `append`
    returns the envelopes it did not write.
    """

    def __init__(self, directory: str, producer_id: str, topic: str, max_bytes: int) -> None:
        self.path = Path(directory) / f"{producer_id}{SUFFIX}"
        self._header = encode_header(topic)
        self._max_bytes = max_bytes
        self._fd = -1
        self._size = 0
        self._others = 0  # bytes of the directory's other files, when opened

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.ftruncate(fd, 0)
        os.write(fd, self._header)
        self._fd, self._size = fd, len(self._header)
        self._others = directory_bytes(self.path.parent) - self._size

    def append(self, envelopes: Iterable[Outgoing]) -> list[Outgoing]:
        """Write `envelopes` (not yet durable: see `sync`); returns those refused by the cap."""
        if self._fd < 0:
            self._open()
        refused: list[Outgoing] = []
        chunks: list[bytes] = []
        for out in envelopes:
            record = encode_record(out)
            if self._others + self._size + len(record) > self._max_bytes:
                refused.append(out)
                continue
            chunks.append(record)
            self._size += len(record)
        if chunks:
            os.write(self._fd, b"".join(chunks))
        return refused

    def sync(self) -> None:
        """Make what was appended durable (one fsync)."""
        if self._fd >= 0:
            os.fsync(self._fd)

    def reset(self) -> None:
        """Forget every envelope written so far (all of them were acknowledged)."""
        if self._fd >= 0 and self._size > len(self._header):
            os.ftruncate(self._fd, len(self._header))
            self._size = len(self._header)

    def rewrite(self, envelopes: Iterable[Outgoing]) -> None:
        """Replace the file by one holding only `envelopes` (durable mode's compaction)."""
        tmp = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)  # locked before it takes the name
        data = self._header + b"".join(encode_record(out) for out in envelopes)
        os.write(fd, data)
        os.fsync(fd)
        os.replace(tmp, self.path)
        os.close(self._fd)
        self._fd, self._size = fd, len(data)

    @property
    def size(self) -> int:
        """Bytes of the file (0 before the first write)."""
        return self._size

    @property
    def empty(self) -> bool:
        return self._size <= len(self._header)

    def close(self) -> None:
        """Release the file: removed if empty, else left for `stepmetrics sync`."""
        if self._fd < 0:
            return
        if self.empty:
            self.path.unlink(missing_ok=True)
        else:
            os.fsync(self._fd)
        os.close(self._fd)
        self._fd = -1


def directory_bytes(directory: Path) -> int:
    """Bytes held by the spool files (intact or damaged) of `directory`."""
    total = 0
    for entry in os.scandir(directory):
        if entry.name.endswith((SUFFIX, DAMAGED_SUFFIX)) and entry.is_file():
            total += entry.stat().st_size
    return total
