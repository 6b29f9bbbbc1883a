"""CloudFront standard logs: legacy W3C delivery and standard logging v2 (w3c, JSON, Parquet).

Columns are mapped through each file's ``#Fields:`` header, never by position: a header may repeat
mid-file (concatenated deliveries) with a different field list, 24-field files from 2014 and today's
33-field files land in the same table, and a field AWS adds later is kept as a text column named
after it. v2 JSON (every value a string) and v2 Parquet are read by field name too. All variants
land in the ``cloudfront`` table through the shared typing tail in :mod:`pipeline.readers._finish`.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator

import polars as pl

from pipeline import schemas
from pipeline.readers import _json, reasons
from pipeline.readers._base import Batch, ReadContext, raw_text, rejects_frame, rejects_from_frame
from pipeline.readers._finish import EPOCH_S, typed_rows
from pipeline.readers._tsv import Parsed, parse_block
from pipeline.readers._typing import native_types
from pipeline.storage.chunks import Chunk, ChunkStream
from pipeline.storage.fs import open_binary

TABLE = "cloudfront"
_LEGACY_NAME = re.compile(r"^([A-Z0-9]{6,20})\.(\d{4}-\d{2}-\d{2}-\d{2})\.[^/]*$")
_DIST_SEGMENT = re.compile(r"^(?:distributionid=|DistributionId=)?(E[A-Z0-9]{6,19})$")
# raw field names that are not plain snake-cased columns
_ALIASES = {
    "DistributionId": "distribution_id",
    "distributionid": "distribution_id",
    "distribution-id": "distribution_id",
    "timestamp": EPOCH_S,
}


def distribution_from_uri(uri: str) -> str | None:
    """The distribution id in a legacy object name (``EMLARXS9EXAMPLE.2019-11-14-20.RT4K.gz``) or a v2 path."""
    parts = uri.rstrip("/").split("/")
    m = _LEGACY_NAME.match(parts[-1])
    if m:
        return m.group(1)
    for part in reversed(parts[:-1]):
        m = _DIST_SEGMENT.match(part)
        if m:
            return m.group(1)
    return None


def column_for(field: str) -> str:
    alias = _ALIASES.get(field)
    if alias is not None:
        return alias
    return schemas.load(TABLE).column_for_field(field).name


def _column_names(fields: list[str]) -> list[str]:
    names = [column_for(f) for f in fields]
    seen: dict[str, int] = {}
    out = []
    for name in names:  # a field listed twice keeps both, the second suffixed
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name}_{seen[name]}")
    return out


def _comment_lines(data: bytes) -> list[tuple[int, int]]:
    """(start, end) byte offsets of lines that begin with ``#``; end is the offset of their newline."""
    out: list[tuple[int, int]] = []
    if data.startswith(b"#"):
        pos = 0
    else:
        found = data.find(b"\n#")
        if found < 0:
            return out
        pos = found + 1
    while True:
        end = data.find(b"\n", pos)  # chunks always end with a newline
        out.append((pos, end))
        found = data.find(b"\n#", end)
        if found < 0:
            return out
        pos = found + 1


def read_w3c(stream: ChunkStream, ctx: ReadContext) -> Iterator[Batch]:
    """Read a legacy (or v2 w3c) standard log object, one batch per chunk."""
    schema = schemas.load(TABLE)
    dist = distribution_from_uri(ctx.uri) or ctx.distribution_id
    fields: list[str] | None = None
    for chunk in stream:
        data = chunk.data
        # The file's own header lines lead the first chunk: take them, then try the rest as one block.
        pos, meta, line = 0, 0, chunk.first_line
        while data.startswith(b"#", pos):
            end = data.index(b"\n", pos)
            if data.startswith(b"#Fields:", pos):
                fields = _fields(data[pos + len(b"#Fields:") : end])
            pos, meta, line = end + 1, meta + 1, line + 1
        if fields is not None and pos < len(data):
            names = _column_names(fields)
            parsed = parse_block(
                data,
                line,
                names,
                what="the #Fields header",
                comments=True,
                types=native_types(schema, names),
                offset=pos,
            )
            if not any(text.startswith("#Fields:") for _, text in parsed.comments):
                rows, rejects = _finish_block(parsed, schema, ctx, dist)
                yield Batch(TABLE, rows, rejects, chunk.n_lines, meta + parsed.meta_lines)
                continue
        # A header inside the chunk (concatenated deliveries) or none yet: split at every `#` line.
        batch, fields = _read_segmented(chunk, fields, schema, ctx, dist)
        yield batch


def _fields(raw: bytes) -> list[str]:
    return raw.decode("utf-8", errors="replace").split()


def _finish_block(
    parsed: Parsed, schema: schemas.Schema, ctx: ReadContext, dist: str | None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    rejects = [rejects_from_frame(ctx, parsed.rejects)]
    rows = pl.DataFrame()
    if parsed.frame.height:
        rows, rej = typed_rows(parsed.frame, schema, ctx, distribution_id=dist, dashes=parsed.dashes)
        rejects.append(rej)
    return rows, pl.concat(rejects)


def _read_segmented(
    chunk: Chunk, fields: list[str] | None, schema: schemas.Schema, ctx: ReadContext, dist: str | None
) -> tuple[Batch, list[str] | None]:
    data = chunk.data
    parts_rows: list[pl.DataFrame] = []
    parts_rej: list[pl.DataFrame] = []
    meta = 0
    offset = 0
    for start, end in [*_comment_lines(data), (len(data), len(data))]:
        if start > offset:
            block = data[offset:start]
            first = chunk.first_line + data.count(b"\n", 0, offset)
            if fields is None:
                rej, m = _headerless(block, first, ctx)
                parts_rej.append(rej)
                meta += m
            else:
                parsed = parse_block(block, first, _column_names(fields), what="the #Fields header")
                meta += parsed.meta_lines
                rows, rejects = _finish_block(parsed, schema, ctx, dist)
                parts_rows.append(rows)
                parts_rej.append(rejects)
        if start < len(data):
            meta += 1
            if data.startswith(b"#Fields:", start):
                fields = _fields(data[start + len(b"#Fields:") : end])
        offset = end + 1
    parts_rows = [r for r in parts_rows if r.height]
    rows = pl.concat(parts_rows, how="diagonal_relaxed") if parts_rows else pl.DataFrame()
    rejects = pl.concat(parts_rej) if parts_rej else rejects_frame(ctx, [], [], [], [])
    return Batch(TABLE, rows, rejects, chunk.n_lines, meta), fields


def _headerless(block: bytes, first: int, ctx: ReadContext) -> tuple[pl.DataFrame, int]:
    """Lines before any ``#Fields:`` header cannot be mapped: reject each (blank lines are meta)."""
    lines = block.split(b"\n")[:-1]
    nums, raws = [], []
    meta = 0
    for i, line in enumerate(lines):
        if not line.strip():
            meta += 1
            continue
        nums.append(first + i)
        raws.append(raw_text(line))
    n = len(nums)
    reason = "no #Fields header precedes this line, so its columns cannot be named"
    return rejects_frame(ctx, nums, [reasons.NO_HEADER] * n, [reason] * n, raws), meta


def read_v2_json(stream: ChunkStream, ctx: ReadContext) -> Iterator[Batch]:
    """Standard logging v2 JSON lines: one object per request, every value a string."""
    schema = schemas.load(TABLE)
    dist = distribution_from_uri(ctx.uri) or ctx.distribution_id
    for chunk in stream:
        parsed = _json.parse_json_lines(chunk)
        rej = [rejects_from_frame(ctx, parsed.rejects)]
        rows = pl.DataFrame()
        if parsed.frame.height:
            frame = parsed.frame
            frame = frame.rename({c: column_for(c) for c in frame.columns if c != "source_line"})
            frame = frame.with_columns(pl.exclude("source_line").cast(pl.String))
            rows, rej_df = typed_rows(frame, schema, ctx, distribution_id=dist)
            rej.append(rej_df)
        yield Batch(TABLE, rows, pl.concat(rej), chunk.n_lines, parsed.meta_lines)


def read_v2_parquet(stream: ChunkStream, ctx: ReadContext) -> Iterator[Batch]:
    """Standard logging v2 Parquet delivery: read by column name, row number as line number."""
    import pyarrow.parquet as pq

    schema = schemas.load(TABLE)
    dist = distribution_from_uri(ctx.uri) or ctx.distribution_id
    with open_binary(ctx.uri) as fh:
        pf = pq.ParquetFile(io.BytesIO(fh.read()))
    first = 1
    for rb in pf.iter_batches(batch_size=256_000):
        frame = pl.from_arrow(rb)
        assert isinstance(frame, pl.DataFrame)
        frame = frame.rename({c: column_for(c) for c in frame.columns})
        frame = frame.with_columns(pl.all().cast(pl.String))
        frame = frame.with_columns(pl.int_range(first, first + frame.height, dtype=pl.Int64).alias("source_line"))
        rows, rejects = typed_rows(frame, schema, ctx, distribution_id=dist)
        yield Batch(TABLE, rows, rejects, frame.height, 0)
        first += frame.height
    stream.lines = first - 1


__all__ = ["Chunk", "distribution_from_uri", "read_v2_json", "read_v2_parquet", "read_w3c"]
