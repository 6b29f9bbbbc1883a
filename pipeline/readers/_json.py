"""JSON-lines blocks to a frame, vectorised, with every bad line named (used by the v2 JSON reader).

The fast path gives the whole chunk to Polars' NDJSON reader. Only when that fails, or when blank
lines would make row numbers drift from line numbers, are the chunk's lines checked one by one to
quarantine what is not a JSON object; the good lines are then parsed together again.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass

import polars as pl

from pipeline.readers import reasons
from pipeline.readers._base import LINE_REJECT_SCHEMA, raw_text
from pipeline.storage.chunks import Chunk


@dataclass
class ParsedJson:
    frame: pl.DataFrame  # one column per key (top level), plus source_line
    rejects: pl.DataFrame  # source_line, reason_code, reason, raw
    meta_lines: int


def _read(data: bytes) -> pl.DataFrame:
    return pl.read_ndjson(io.BytesIO(data), infer_schema_length=None)


def parse_json_lines(chunk: Chunk) -> ParsedJson:
    data = chunk.data
    n_lines = chunk.n_lines
    clean = b"\n\n" not in data and not data.startswith(b"\n") and data.isascii()
    if clean:
        try:
            df = _read(data)
            if df.height == n_lines:
                lines = pl.int_range(chunk.first_line, chunk.first_line + n_lines, dtype=pl.Int64, eager=True)
                return ParsedJson(
                    df.with_columns(lines.alias("source_line")), pl.DataFrame(schema=LINE_REJECT_SCHEMA), 0
                )
        except (pl.exceptions.PolarsError, ValueError):
            pass
    good: list[bytes] = []
    good_lines: list[int] = []
    rejects = []
    meta = 0
    for i, line in enumerate(data.split(b"\n")[:n_lines]):
        num = chunk.first_line + i
        if not line.strip():
            meta += 1
            continue
        try:
            value = json.loads(line)
        except UnicodeDecodeError as exc:
            rejects.append((num, reasons.INVALID_UTF8, f"not valid UTF-8 ({exc.reason})", raw_text(line)))
            continue
        except ValueError as exc:
            rejects.append((num, reasons.INVALID_JSON, f"not valid JSON: {exc}", raw_text(line)))
            continue
        if not isinstance(value, dict):
            rejects.append(
                (num, reasons.NOT_AN_OBJECT, f"a JSON {type(value).__name__}, not an object", raw_text(line))
            )
            continue
        good.append(line)
        good_lines.append(num)
    frame = _read(b"\n".join(good) + b"\n") if good else pl.DataFrame()
    frame = frame.with_columns(pl.Series("source_line", good_lines, dtype=pl.Int64)) if good else frame
    rej = pl.DataFrame(rejects, schema=LINE_REJECT_SCHEMA, orient="row")
    return ParsedJson(frame, rej, meta)
