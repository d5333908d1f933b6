"""`chunk_size`: how many executions a scalar page reads next."""

from __future__ import annotations

import pytest

from stepmetrics.store.index import BATCH
from stepmetrics.store.page_reads import MAX_CHUNK, chunk_size


def test_the_first_chunk_is_one_batch() -> None:
    assert chunk_size(10_000, 0, 0) == BATCH


def test_executions_without_rows_so_far_read_a_batch() -> None:
    assert chunk_size(10_000, 0, 64) == BATCH


@pytest.mark.parametrize(
    ("room", "rows", "executions", "expected"),
    [
        (8_720, 1_280, 64, 437),  # 20 rows each: 436 more fill the page, plus one
        (1_040, 8_960, 448, 53),
        (1, 1_280, 64, 2),
        (936, 64, 64, MAX_CHUNK),  # one row each: capped
        (3, 30_000, 1, 2),  # a huge execution: the estimate (1) plus one
    ],
)
def test_later_chunks_follow_the_rows_seen(
    room: int, rows: int, executions: int, expected: int
) -> None:
    assert chunk_size(room, rows, executions) == expected
