"""Shared test helpers: sample paths, log writers that encode like AWS, reader and lake shortcuts.

Tests build small log files on the fly (legacy W3C, v2 JSON, real-time), read them through the
public reader functions or ingest them into a temporary lake, and check reconciliation
(``lines == rows + line rejects + meta lines``) from both the ``manifest`` table and the run summary.
"""

from __future__ import annotations

import gzip
import json
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import polars as pl
from hypothesis import settings

from pipeline import schemas
from pipeline.lake import Lake
from pipeline.query.views import connect
from pipeline.readers._base import Batch, ReadContext, empty_rejects
from pipeline.readers.cloudfront import read_w3c
from pipeline.storage.chunks import ChunkStream

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "data" / "samples"
AWS_DOCS = SAMPLES / "aws-docs"
BAD = SAMPLES / "bad"
REALTIME = SAMPLES / "realtime"
EXPECTED = Path(__file__).resolve().parent / "expected"
EDGELAKE = Path(sys.executable).parent / "edgelake"

# The 33 fields of today's legacy standard log, in delivery order (FORMATS.md a.3).
CF_FIELDS_33: tuple[str, ...] = (
    "date",
    "time",
    "x-edge-location",
    "sc-bytes",
    "c-ip",
    "cs-method",
    "cs(Host)",
    "cs-uri-stem",
    "sc-status",
    "cs(Referer)",
    "cs(User-Agent)",
    "cs-uri-query",
    "cs(Cookie)",
    "x-edge-result-type",
    "x-edge-request-id",
    "x-host-header",
    "cs-protocol",
    "cs-bytes",
    "time-taken",
    "x-forwarded-for",
    "ssl-protocol",
    "ssl-cipher",
    "x-edge-response-result-type",
    "cs-protocol-version",
    "fle-status",
    "fle-encrypted-fields",
    "c-port",
    "time-to-first-byte",
    "x-edge-detailed-result-type",
    "sc-content-type",
    "sc-content-len",
    "sc-range-start",
    "sc-range-end",
)
CF_FIELDS_24: tuple[str, ...] = CF_FIELDS_33[:24]

# Characters CloudFront percent-encodes besides bytes 0-32 and >= 127 (FORMATS.md a.4).
_AWS_ESCAPED = set(b"<>\"#%{}|\\^~[]`' ")


def aws_encode(value: str) -> str:
    """Percent-encode ``value`` the way CloudFront writes log fields (UTF-8 bytes, upper-case hex)."""
    out = []
    for byte in value.encode("utf-8"):
        if byte <= 32 or byte >= 127 or byte in _AWS_ESCAPED:
            out.append(f"%{byte:02X}")
        else:
            out.append(chr(byte))
    return "".join(out)


def cf_record(**overrides: str) -> dict[str, str]:
    """One 33-field legacy record as raw log text (already encoded), keyed by AWS field name.

    Keyword arguments override fields by their snake-cased column name (``sc_status="000"``).
    """
    rec = {
        "date": "2024-03-01",
        "time": "10:15:30",
        "x-edge-location": "FRA56-P1",
        "sc-bytes": "5120",
        "c-ip": "192.0.2.10",
        "cs-method": "GET",
        "cs(Host)": "d111111abcdef8.cloudfront.net",
        "cs-uri-stem": "/index.html",
        "sc-status": "200",
        "cs(Referer)": "-",
        "cs(User-Agent)": "Mozilla/5.0%20(X11;%20Linux%20x86_64)",
        "cs-uri-query": "-",
        "cs(Cookie)": "-",
        "x-edge-result-type": "Hit",
        "x-edge-request-id": "Zq1xWc8QmLr0TbA9yV3nKe7Hs2PdFg6JuIo5MwE4XtYRN==",
        "x-host-header": "www.example.com",
        "cs-protocol": "https",
        "cs-bytes": "310",
        "time-taken": "0.004",
        "x-forwarded-for": "-",
        "ssl-protocol": "TLSv1.3",
        "ssl-cipher": "TLS_AES_128_GCM_SHA256",
        "x-edge-response-result-type": "Hit",
        "cs-protocol-version": "HTTP/2.0",
        "fle-status": "-",
        "fle-encrypted-fields": "-",
        "c-port": "51234",
        "time-to-first-byte": "0.003",
        "x-edge-detailed-result-type": "Hit",
        "sc-content-type": "text/html",
        "sc-content-len": "4800",
        "sc-range-start": "-",
        "sc-range-end": "-",
    }
    by_column = {schemas.column_name(f): f for f in rec}
    for key, value in overrides.items():
        rec[by_column.get(key, key)] = value
    return rec


def w3c_text(
    fields: Sequence[str], records: Iterable[Mapping[str, str]], *, version: bool = True, trailing_tab: bool = False
) -> str:
    """A legacy standard log: ``#Version``/``#Fields`` headers, then one TAB-separated line per record."""
    head = ("#Version: 1.0\n" if version else "") + "#Fields: " + " ".join(fields) + "\n"
    tail = "\t" if trailing_tab else ""
    return head + "".join("\t".join(rec[f] for f in fields) + tail + "\n" for rec in records)


def gz(data: bytes) -> bytes:
    """Deterministic gzip (mtime 0) so generated samples are byte-stable."""
    return gzip.compress(data, compresslevel=6, mtime=0)


def examples(n: int) -> int:
    """``n`` examples under the default ("ci") Hypothesis profile, proportionally more under ``make fuzz``.

    A test's own ``max_examples`` overrides the profile's, so tests size theirs through this to let
    the fuzz profile (see conftest.py) scale them all.
    """
    return max(1, n * settings.default.max_examples // settings.get_profile("ci").max_examples)


def write(path: Path, data: bytes | str) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    return str(path)


@dataclass
class ReadResult:
    """Every batch a reader yielded for one object, concatenated."""

    rows: pl.DataFrame
    rejects: pl.DataFrame
    lines: int
    meta_lines: int
    batches: list[Batch]

    @property
    def line_rejects(self) -> int:
        return int(self.rejects.get_column("source_line").is_not_null().sum())

    def reconciles(self) -> bool:
        return self.lines == self.rows.height + self.line_rejects + self.meta_lines

    def row(self, line: int) -> dict[str, Any]:
        found = self.rows.filter(pl.col("source_line") == line).to_dicts()
        assert len(found) == 1, f"expected one row for line {line}, found {len(found)}"
        return found[0]


Reader = Callable[[ChunkStream, ReadContext], Iterator[Batch]]


def read(
    path: str | Path,
    reader: Reader = read_w3c,
    *,
    source: str = "cloudfront",
    chunk_bytes: int | None = None,
    **ctx: Any,
) -> ReadResult:
    """Run ``reader`` over one file, without a lake."""
    uri = str(path)
    stream = ChunkStream(uri) if chunk_bytes is None else ChunkStream(uri, chunk_bytes=chunk_bytes)
    batches = list(reader(stream, ReadContext(uri=uri, source=source, **ctx)))
    frames = [b.rows for b in batches if b.rows.height]
    rows = pl.concat(frames, how="diagonal_relaxed") if frames else pl.DataFrame()
    rejects = pl.concat([b.rejects for b in batches]) if batches else empty_rejects()  # no batch: nothing read
    return ReadResult(rows, rejects, sum(b.lines for b in batches), sum(b.meta_lines for b in batches), batches)


def read_text(tmp: Path, name: str, data: bytes | str, reader: Reader = read_w3c, **ctx: Any) -> ReadResult:
    return read(write(tmp / name, data), reader, **ctx)


# --- lake checks --------------------------------------------------------------------------------------
# Lake contents are read in full with Polars and filtered in memory: the checks must not depend on
# any engine's filter pushdown (see test_roundtrip.py for DuckDB's filtered answers).
def table(lake: str, name: str, *, source_file: str | None = None) -> pl.DataFrame:
    """A whole lake table (``Lake.scan``), optionally only one object's rows, ordered by line."""
    frame = Lake(lake).scan(name).collect()
    if source_file is not None:
        frame = frame.filter(pl.col("source_file") == source_file)
    return frame.sort("source_line", nulls_last=False) if "source_line" in frame.columns else frame


def sql(lake: str, statement: str, params: dict[str, object] | None = None) -> pl.DataFrame:
    """Run a query over the lake's DuckDB views and close the connection.

    Closing matters: a connection still holding Delta-backed Arrow datasets at interpreter exit can
    abort the process ("terminate called without an active exception").
    """
    con = connect(lake)
    try:
        frame: pl.DataFrame = con.sql(statement, params=params).pl()
        return frame
    finally:
        con.close()


def rejects_of(lake: str, uri: str | None = None) -> list[tuple[int | None, str]]:
    """(source_line, reason_code) of the lake's rejects, object-level (null line) first."""
    frame = table(lake, "rejects", source_file=uri).sort("source_line", "reason_code", nulls_last=False)
    return [(r[0], r[1]) for r in frame.select("source_line", "reason_code").iter_rows()]


def reject_at(lake: str, line: int | None) -> dict[str, Any]:
    """The one reject row at ``line`` (None: the object-level one)."""
    frame = table(lake, "rejects")
    hit = frame.filter(pl.col("source_line").is_null() if line is None else pl.col("source_line") == line)
    assert hit.height == 1, f"expected one reject at line {line}, found {hit.height}"
    return hit.row(0, named=True)


def manifest_of(lake: str) -> dict[str, dict[str, Any]]:
    return {r["object_uri"]: r for r in table(lake, "manifest").to_dicts()}


def assert_reconciled(lake: str, summary: Any) -> None:
    """lines == rows + line rejects + meta, per object from ``manifest`` and in total from the summary.

    ``lake`` must have been written by exactly the one ingest run ``summary`` describes.
    """
    rejects = table(lake, "rejects")
    stored = pl.concat([table(lake, t).select("source_file") for t in ("cloudfront", "realtime")])
    manifest = table(lake, "manifest").to_dicts()
    assert manifest, "the manifest is empty"
    for m in manifest:
        mine = rejects.filter(pl.col("source_file") == m["object_uri"])
        line_rejects = mine.get_column("source_line").is_not_null().sum()
        assert m["lines"] == m["rows"] + line_rejects + m["meta_lines"], m
        assert m["rejects"] == mine.height, m
        assert m["rows"] == stored.filter(pl.col("source_file") == m["object_uri"]).height, m
    object_level = rejects.get_column("source_line").is_null().sum()
    line_rejects_total = summary.rejects - object_level
    assert summary.lines == sum(summary.rows.values()) + line_rejects_total + summary.meta_lines
    assert summary.lines == sum(m["lines"] for m in manifest)
    assert summary.rejects == rejects.height


def expected_aws_docs() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((EXPECTED / "aws_docs.json").read_text(encoding="utf-8"))
    return loaded


# --- an independent oracle of the typing rules ----------------------------------------------------------
_INT_TYPES = {"int8", "int16", "int32", "int64"}


def typed(table_name: str, field: str, text: str) -> tuple[str, Any]:
    """(column, value) that the raw log text ``text`` of ``field`` must become, by the schema's rules.

    ``-`` is null; integers, floats and dates parse as Python does; ``decode = "url"`` fields are
    percent-decoded once (``urllib.parse.unquote``); anything else stays text.
    """
    col = schemas.load(table_name).column_for_field(field)
    if text in ("-", ""):
        return col.name, None
    if col.type_text in _INT_TYPES:
        return col.name, int(text)
    if col.type_text == "float64":
        return col.name, float(text)
    if col.type_text == "date32":
        return col.name, date.fromisoformat(text)
    if col.decode == "url":
        return col.name, unquote(text, errors="strict")
    return col.name, text


def expected_row(table_name: str, record: Mapping[str, str]) -> dict[str, Any]:
    return dict(typed(table_name, f, v) for f, v in record.items())
