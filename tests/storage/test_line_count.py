"""The stream's own line count, which reconciliation checks every parser against (pipeline/storage/chunks.py)."""

from __future__ import annotations

import pytest

from pipeline.storage import chunks

CASES = [
    b"a\tb\n\n\nc\n",  # blank lines are lines
    b"a\rb\r\n\r\n",  # a lone CR is not a line end
    b"a\xff\x00\tb\n\xfe\n",  # not UTF-8, NUL bytes
    b'"a\n"\n"b"\n',  # quotes mean nothing
    b"#Version: 1.0\n#Fields: date time\n2019-12-04\t21:02:31\n",
    b"\x1f\x8b\x08\x00garbage\n",  # starts like gzip: Polars would try to inflate it
    b"x\x9c zlib-like\n",
    b"(\xb5/\xfd zstd-like\n",
    b"no newline at the end",
    b"x" * 3_000_000 + b"\n" + b"y\n" * 1000,
]


@pytest.mark.parametrize("data", CASES, ids=range(len(CASES)))
def test_count_lines_counts_newlines(data: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(chunks, "_COUNT_WITH_POLARS", 0)  # every size through the fast path
    assert chunks.count_lines(data) == data.count(b"\n")
