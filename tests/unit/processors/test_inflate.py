"""Bounded decompression: a bomb is refused having held about the limit, never its size."""

from __future__ import annotations

import struct
import tracemalloc
import zlib
from collections.abc import Callable, Iterator

import cramjam
import lz4.frame
import pytest
import zstandard

from stepmetrics.processors.errors import InflatesPastLimitError, UndecodableBatchError
from stepmetrics.processors.inflate import INFLATERS

LIMIT = 1 << 20
BOMB = 256 << 20  # inflated size of each bomb: 256x the limit
_MIB_OF_ZEROS = bytes(1 << 20)


def _chunks(total: int) -> Iterator[bytes]:
    for _ in range(total >> 20):
        yield _MIB_OF_ZEROS


def _gzip(total: int) -> bytes:
    z = zlib.compressobj(9, zlib.DEFLATED, 31)
    return b"".join(z.compress(c) for c in _chunks(total)) + z.flush()


def _zstd(total: int) -> bytes:
    z = zstandard.ZstdCompressor(level=3).compressobj()
    return b"".join(z.compress(c) for c in _chunks(total)) + z.flush()


def _lz4(total: int) -> bytes:
    z = lz4.frame.LZ4FrameCompressor(block_linked=False)
    return bytes(z.begin() + b"".join(z.compress(c) for c in _chunks(total)) + z.flush())


def _snappy(total: int) -> bytes:
    return bytes(cramjam.snappy.compress_raw(bytes(total)))


BOMBS: dict[str, Callable[[int], bytes]] = {
    "gzip": _gzip,
    "zstd": _zstd,
    "lz4": _lz4,
    "snappy": _snappy,
}
ENCODE: dict[str, Callable[[bytes], bytes]] = {
    "gzip": lambda data: zlib.compress(data, wbits=31),
    "zstd": lambda data: zstandard.ZstdCompressor().compress(data),
    "lz4": lambda data: lz4.frame.compress(data, block_linked=False),
    "snappy": lambda data: bytes(cramjam.snappy.compress_raw(data)),
}


@pytest.mark.parametrize("codec", sorted(BOMBS))
def test_a_bomb_is_refused_without_holding_more_than_about_the_limit(codec: str) -> None:
    # snappy's ratio is at most ~21:1, so its "bomb" is 64 MiB (3 MB compressed).
    bomb = BOMBS[codec](BOMB if codec != "snappy" else 64 << 20)
    tracemalloc.start()
    try:
        with pytest.raises(InflatesPastLimitError) as refused:
            INFLATERS[codec](bomb, LIMIT)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # The output buffer, one copy of it and of the input at most; the bomb is 256 MiB.
    assert peak <= 2 * LIMIT + len(bomb) + (64 << 10), f"{codec} held {peak} bytes"
    assert str(refused.value) == (
        f"{codec} batch of {len(bomb)} compressed bytes inflates past {LIMIT} bytes "
        "(STEPMETRICS_MAX_BATCH_INFLATED_BYTES)"
    )


@pytest.mark.parametrize("codec", sorted(ENCODE))
def test_data_within_the_limit_inflates_exactly(codec: str) -> None:
    data = b'{"v":1,"ev":[["s","loss",1,0.5]]}' * 20_000  # ~700 kB
    assert INFLATERS[codec](ENCODE[codec](data), LIMIT) == data
    assert INFLATERS[codec](memoryview(ENCODE[codec](data)), len(data)) == data  # exactly at it
    with pytest.raises(InflatesPastLimitError):
        INFLATERS[codec](ENCODE[codec](data), len(data) - 1)


@pytest.mark.parametrize("codec", ["gzip", "zstd", "lz4"])
def test_concatenated_members_or_frames_inflate_and_count_together(codec: str) -> None:
    part = b"abc" * 100_000
    twice = ENCODE[codec](part) + ENCODE[codec](part)
    assert INFLATERS[codec](twice, LIMIT) == part * 2
    with pytest.raises(InflatesPastLimitError):
        INFLATERS[codec](twice, len(part) * 2 - 1)


def test_gzip_skips_trailing_zero_padding_as_gzip_does() -> None:
    assert INFLATERS["gzip"](ENCODE["gzip"](b"payload") + bytes(8), LIMIT) == b"payload"


@pytest.mark.parametrize("codec", sorted(ENCODE))
def test_undecodable_data_is_a_typed_error_naming_the_codec(codec: str) -> None:
    with pytest.raises(UndecodableBatchError, match=rf"^{codec} batch of 5\d compressed bytes "):
        INFLATERS[codec](b"\x81\xff not compressed at all \x00\x01" * 2, LIMIT)


@pytest.mark.parametrize("codec", ["gzip", "lz4", "snappy"])  # zstd: see inflate.py
def test_truncated_data_is_undecodable(codec: str) -> None:
    truncated = ENCODE[codec](bytes(range(256)) * 1000)[:-7]
    with pytest.raises(UndecodableBatchError, match="cannot be decompressed"):
        INFLATERS[codec](truncated, LIMIT)


def test_snappy_is_refused_from_the_declared_length_before_inflating() -> None:
    # A raw block whose header claims 2 GiB: refused without calling the codec.
    claim = bytes([0x80, 0x80, 0x80, 0x80, 0x08]) + b"\x00" * 10
    with pytest.raises(InflatesPastLimitError):
        INFLATERS["snappy"](claim, LIMIT)
    with pytest.raises(UndecodableBatchError, match="no valid uncompressed-length header"):
        INFLATERS["snappy"](b"\xff" * 6, LIMIT)


def _xerial(*blocks: bytes) -> bytes:
    header = b"\x82SNAPPY\x00" + struct.pack("!ii", 1, 1)
    raw = [bytes(cramjam.snappy.compress_raw(b)) for b in blocks]
    return header + b"".join(struct.pack("!i", len(r)) + r for r in raw)


def test_xerial_snappy_blocks_inflate_and_their_lengths_add_up() -> None:
    blocks = [b"a" * 32_768, b"b" * 32_768, b"c" * 10]
    assert INFLATERS["snappy"](_xerial(*blocks), LIMIT) == b"".join(blocks)
    with pytest.raises(InflatesPastLimitError):
        INFLATERS["snappy"](_xerial(*blocks), 65_000)
    with pytest.raises(UndecodableBatchError, match="xerial block of"):
        INFLATERS["snappy"](_xerial(*blocks)[:-3], LIMIT)


def test_a_zstd_frame_declaring_a_huge_window_is_refused_not_allocated() -> None:
    params = zstandard.ZstdCompressionParameters.from_level(3, window_log=30)
    frame = zstandard.ZstdCompressor(compression_params=params).compressobj()
    data = frame.compress(b"x" * 1000) + frame.flush()
    with pytest.raises(UndecodableBatchError, match="too much memory"):
        INFLATERS["zstd"](data, LIMIT)
