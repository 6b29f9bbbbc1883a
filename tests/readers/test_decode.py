"""Percent-decoding over distinct values, and the one-query typing path against the step-by-step one."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote_to_bytes

import polars as pl
import pytest
from helpers import SAMPLES

from pipeline.ingest import IngestOptions, ingest
from pipeline.lake import Lake
from pipeline.readers import _finish
from pipeline.readers.decode import url_decode
from pipeline.readers.realtime import load_fields


def _reference(value: str | None) -> str | None:
    """The definition, one value at a time: decode once; leave it alone if the bytes are not UTF-8."""
    if value is None:
        return None
    try:
        return unquote_to_bytes(value).decode("utf-8")
    except UnicodeDecodeError:
        return value


VALUES = [
    "Mozilla/5.0%20(X11;%20Linux)",
    "curl/8.4.0",
    None,
    "caf%C3%A9",
    "%FF%FE",
    "%G1%2",
    "redirect=https%253A%252F%252Fexample.com",
    "plain",
    "%7Bjson%7D",
    "",
    "a%2Fb%2Fc",
    "%",
]


@pytest.mark.parametrize("pattern", ["dense", "sparse", "every", "nothing", "only-invalid"])
def test_url_decode_matches_the_definition(pattern: str) -> None:
    if pattern == "dense":
        values = VALUES * 300
    elif pattern == "sparse":
        values = ["plain/path"] * 5000 + ["caf%C3%A9", None, "%FF"] + ["other"] * 3000
    elif pattern == "every":
        values = ["caf%C3%A9", "x%20y", None] * 1000
    elif pattern == "nothing":
        values = ["a", "b", None] * 10
    else:
        values = ["%FF", "%G1", "a"] * 10
    series = pl.Series("cs_user_agent", values, dtype=pl.String)
    decoded = url_decode(series)
    assert decoded.name == "cs_user_agent"
    assert decoded.to_list() == [_reference(v) for v in values]


def _tables(lake: str) -> dict[str, pl.DataFrame]:
    out = {}
    for table in ("cloudfront", "realtime", "rejects"):
        frame = Lake(lake).scan(table).collect()
        keep = [c for c in frame.columns if c != "ingested_at"]
        out[table] = frame.select(keep).sort(["source_file", "source_line"], nulls_last=True)
    return out


def test_one_query_typing_gives_the_step_by_step_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Clean chunks are typed by one fused query; chunks with a bad row go step by step. Both must
    # produce the same rows, so the same inputs are ingested once with the fused path switched off.
    cloudfront = [str(p) for p in sorted((SAMPLES / "aws-docs").glob("EMLARXS9EXAMPLE.*"))]
    cloudfront += [str(SAMPLES / "aws-docs" / "v2-example.json"), str(SAMPLES / "cloudfront")]
    realtime = IngestOptions(
        source="realtime", realtime_fields=load_fields(str(SAMPLES / "realtime" / "realtime-config.json"))
    )
    # a delivery with one value that does not fit its type: that chunk goes step by step
    lines = (SAMPLES / "aws-docs" / "EMLARXS9EXAMPLE.2019-11-14-20.RT4KCN4SGK9").read_text().splitlines()
    fields = lines[2].split("\t")
    fields[8] = "2OO"  # sc-status
    bad = tmp_path / "in" / "EMLARXS9EXAMPLE.2019-11-14-21.BADVALUE"
    bad.parent.mkdir()
    bad.write_text("\n".join([*lines[:4], "\t".join(fields), *lines[4:]]) + "\n")
    cloudfront += [str(bad), str(SAMPLES / "bad" / "field-count.log"), str(SAMPLES / "bad" / "invalid-utf8.log")]
    lakes = {}
    fused_chunks = []
    real = _finish._fused

    def counted(*args: object) -> pl.DataFrame | None:
        out = real(*args)  # type: ignore[arg-type]
        fused_chunks.append(out is not None)
        return out

    for name in ("fused", "steps"):
        with monkeypatch.context() as patch:
            patch.setattr(_finish, "_fused", counted if name == "fused" else lambda *args: None)
            lake = str(tmp_path / name)
            ingest(cloudfront, lake, IngestOptions(workers=1))
            ingest([str(SAMPLES / "realtime" / "2023")], lake, realtime)
            lakes[name] = _tables(lake)
    assert lakes["fused"]["cloudfront"].height > 400 and lakes["fused"]["realtime"].height > 30
    assert lakes["fused"]["rejects"].height > 3 and any(fused_chunks) and not all(fused_chunks)
    for table, frame in lakes["fused"].items():
        assert frame.equals(lakes["steps"][table]), table
