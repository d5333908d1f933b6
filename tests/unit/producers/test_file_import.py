"""The import's first pass: bounded line reading and the decoder's verdict per line."""

from __future__ import annotations

import io

import pytest

from stepmetrics.producers.events import MAX_ENVELOPE_BYTES, Envelope, encode_envelope
from stepmetrics.producers.file_import import ImportFileError, ImportReport, read_lines, validate


def line(seq: int) -> bytes:
    return encode_envelope(Envelope("export-x", seq, "e:{1}", "p", None, [("s", "a", 1, 0.5)]))


def test_lines_are_read_with_a_bound_and_a_too_long_one_is_refused_unread() -> None:
    huge = b"x" * (MAX_ENVELOPE_BYTES + 10)
    stream = io.BytesIO(b"\n".join([line(1), huge, line(2)]))  # the last without a newline
    got = list(read_lines(stream))
    assert [(x.number, x.data) for x in got] == [(1, line(1)), (2, b""), (3, line(2))]
    assert got[1].problem == f"{len(huge) + 1} bytes; an envelope is at most {MAX_ENVELOPE_BYTES}"


def test_the_first_bad_line_refuses_the_file_naming_it() -> None:
    stream = io.BytesIO(b"\n".join([line(1), b'{"v":2}', b"[]", line(2)]) + b"\n")
    with pytest.raises(ImportFileError, match=r"^line 2: unknown schema version 2; supported: 1$"):
        validate(stream, ImportReport(), skip_invalid=False)


def test_skip_invalid_counts_and_lists_the_bad_lines() -> None:
    bad = [b"", b"not json", b'{"v":1,"pid":"p","seq":-1,"eid":"e","pipe":"p","ev":[1]}']
    stream = io.BytesIO(b"\n".join([line(1), *bad, line(2)]) + b"\n")
    report = ImportReport()
    validate(stream, report, skip_invalid=True)
    assert (report.lines, report.valid, report.invalid_count) == (5, 2, 3)
    assert report.invalid[0].startswith("line 2: not JSON")
    assert report.invalid[1].startswith("line 3: not JSON")
    assert report.invalid[2] == "line 4: 'seq' must be a non-negative integer, got -1"
