"""Bounded decompression of Kafka record batches: refuse, never materialise, a bomb.

A compressed record batch is untrusted input: a 6 kB zstd batch can inflate to
hundreds of MB. Each function here decompresses one batch's record data with
the codec Kafka names in the batch attributes and returns at most `limit`
bytes; past that it raises `InflatesPastLimitError` having held at most about
`limit` bytes of output (plus one chunk), never the whole inflated size.
Input the codec cannot decode raises `UndecodableBatchError`. Both carry the
compressed size and say what was wrong.

- gzip: `zlib` with `max_length`, member after member (as `gzip.GzipFile`
  reads them, trailing zero padding skipped);
- zstd: `zstandard`'s stream reader across frames, read in chunks (a
  truncated last frame gives its decoded part, as aiokafka's record parser
  then finds); the
  decoder's window is capped at the larger of 8 MiB and the limit (a frame may
  declare up to 2 GiB);
- lz4 (Kafka's framed LZ4): `lz4.frame` with `max_length`, frame after frame;
- snappy (raw or xerial blocks): the uncompressed length each raw block
  declares in its header is checked before cramjam inflates it (cramjam
  allocates exactly that and fails if the data disagrees).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from typing import Final

import cramjam
import lz4.frame
import zstandard

from stepmetrics.processors.errors import InflatesPastLimitError, UndecodableBatchError

Inflate = Callable[[bytes | memoryview, int], bytes]
# Output is read in chunks of this size at most (zstd).
CHUNK_BYTES: Final = 1 << 20
_GZIP_WBITS: Final = 16 + zlib.MAX_WBITS
_XERIAL_HEADER: Final = b"\x82SNAPPY\x00"
_XERIAL_HEADER_BYTES: Final = 16
# zstd's decoder window: at least 8 MiB (what levels up to 19 use, e.g. Kafka's
# Java and librdkafka producers), at most the limit rounded up to a power of 2.
_MIN_ZSTD_WINDOW: Final = 1 << 23
_MAX_ZSTD_WINDOW: Final = 1 << 31


def _past(codec: str, data: bytes | memoryview, limit: int) -> InflatesPastLimitError:
    return InflatesPastLimitError(codec, len(data), limit)


def _undecodable(codec: str, data: bytes | memoryview, exc: Exception) -> UndecodableBatchError:
    return UndecodableBatchError(codec, len(data), f"{type(exc).__name__}: {exc}")


def inflate_gzip(data: bytes | memoryview, limit: int) -> bytes:
    """The gzip members in `data`, decompressed, if they hold at most `limit` bytes."""
    parts: list[bytes] = []
    total = 0
    rest: bytes | memoryview = data
    try:
        while rest:
            member = zlib.decompressobj(_GZIP_WBITS)
            parts.append(member.decompress(rest, limit + 1 - total))
            total += len(parts[-1])
            if total > limit:
                raise _past("gzip", data, limit)
            if not member.eof:
                raise zlib.error("truncated gzip member")
            rest = member.unused_data.lstrip(b"\x00")
    except zlib.error as exc:
        raise _undecodable("gzip", data, exc) from exc
    return _joined(parts)


def inflate_zstd(data: bytes | memoryview, limit: int) -> bytes:
    """The zstd frames in `data`, decompressed, if they hold at most `limit` bytes."""
    window = min(max(1 << (limit - 1).bit_length(), _MIN_ZSTD_WINDOW), _MAX_ZSTD_WINDOW)
    parts: list[bytes] = []
    total = 0
    try:
        # A frame that declares its size (aiokafka's producer writes it) is read
        # in one chunk of that size (libzstd fails a frame that lied about it).
        declared = zstandard.frame_content_size(data)
        chunk_bytes = declared + 1 if 0 <= declared < CHUNK_BYTES else CHUNK_BYTES
        decompressor = zstandard.ZstdDecompressor(max_window_size=window)
        with decompressor.stream_reader(data, read_across_frames=True) as reader:
            while chunk := reader.read(min(chunk_bytes, limit + 1 - total)):
                parts.append(chunk)
                total += len(chunk)
                if total > limit:
                    raise _past("zstd", data, limit)
    except zstandard.ZstdError as exc:
        raise _undecodable("zstd", data, exc) from exc
    return _joined(parts)


def inflate_lz4(data: bytes | memoryview, limit: int) -> bytes:
    """The LZ4 frames in `data`, decompressed, if they hold at most `limit` bytes."""
    parts: list[bytes] = []
    total = 0
    rest = data if isinstance(data, bytes) else bytes(data)
    try:
        while rest:
            frame = lz4.frame.LZ4FrameDecompressor()
            parts.append(frame.decompress(rest, max_length=limit + 1 - total))
            total += len(parts[-1])
            if total > limit:
                raise _past("lz4", data, limit)
            if not frame.eof:
                raise RuntimeError("truncated LZ4 frame")
            rest = frame.unused_data or b""
    except RuntimeError as exc:  # lz4.frame raises RuntimeError for bad input
        raise _undecodable("lz4", data, exc) from exc
    return _joined(parts)


def _joined(parts: list[bytes]) -> bytes:
    """The parts as one bytes object, copied only when there are several."""
    return parts[0] if len(parts) == 1 else b"".join(parts)


def inflate_snappy(data: bytes | memoryview, limit: int) -> bytes:
    """Raw snappy or xerial-framed `data`, decompressed, if it holds at most `limit` bytes."""
    raw = bytes(data)
    blocks = _xerial_blocks(raw) if raw[:8] == _XERIAL_HEADER else [raw]
    declared = 0
    for block in blocks:
        declared += _snappy_length(block, raw)
        if declared > limit:
            raise _past("snappy", data, limit)
    try:
        return b"".join(bytes(cramjam.snappy.decompress_raw(block)) for block in blocks)
    except cramjam.DecompressionError as exc:
        raise _undecodable("snappy", data, exc) from exc


def _xerial_blocks(raw: bytes) -> list[bytes]:
    blocks, pos = [], _XERIAL_HEADER_BYTES
    while pos < len(raw):
        if pos + 4 > len(raw):
            raise UndecodableBatchError("snappy", len(raw), "truncated xerial block length")
        (size,) = struct.unpack_from("!i", raw, pos)
        if size < 0 or pos + 4 + size > len(raw):
            raise UndecodableBatchError("snappy", len(raw), f"xerial block of {size} bytes")
        blocks.append(raw[pos + 4 : pos + 4 + size])
        pos += 4 + size
    return blocks


def _snappy_length(block: bytes, whole: bytes) -> int:
    """The uncompressed length a raw snappy block declares (its leading varint)."""
    length = 0
    for i, byte in enumerate(block[:5]):
        length |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            return length
    raise UndecodableBatchError("snappy", len(whole), "no valid uncompressed-length header")


# Kafka's codec names -> bounded decompressor (aiokafka's `*_decode` functions).
INFLATERS: Final[dict[str, Inflate]] = {
    "gzip": inflate_gzip,
    "snappy": inflate_snappy,
    "lz4": inflate_lz4,
    "zstd": inflate_zstd,
}
