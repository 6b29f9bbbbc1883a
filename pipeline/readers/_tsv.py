"""Tab-separated blocks of log lines to string columns, vectorised, with every bad line named.

Shared by the W3C (standard log) and real-time readers. A block is a run of complete lines that all
share one field list. The fast path hands the whole block to Polars' CSV reader (no quoting, two
spare columns to catch extra fields); the block is re-read through a per-line check only when Polars
refuses it (a line with too many fields, invalid UTF-8), and then only to find, quarantine and blank
those lines, so clean input never meets per-line Python.

A line is good when its declared last field is present and nothing follows it except one empty
field (AWS's own example has a trailing TAB). Blank lines are counted as meta lines, not rejects.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from pipeline.readers import reasons
from pipeline.readers._base import LINE_REJECT_SCHEMA, raw_text
from pipeline.storage.chunks import polars_text


@dataclass
class Parsed:
    frame: pl.DataFrame  # good rows: one string column per name, plus source_line (int64)
    rejects: pl.DataFrame  # source_line, reason_code, reason, raw
    lines: int
    meta_lines: int
    comments: list[tuple[int, str]]  # (line, text) of `#` lines, when asked for; counted in meta_lines
    dashes: list[str] = field(default_factory=list)  # columns whose `-` is still text (see _read)


def _read(block: bytes, width: int, types: dict[int, pl.DataType] | None = None, skip: int = 0) -> pl.DataFrame:
    # `-` (AWS's "no value") and empty fields become null while parsing, except in the first and the
    # last declared field and the two spare ones: there a missing field (null) must stay apart from a
    # `-`, so that blank, short and long lines can be told apart; `typed_rows` nulls their dashes.
    schema = {f"c{i}": (types or {}).get(i, pl.String()) for i in range(width)}
    last = width - 3
    dashes = {f"c{i}": "-" for i in range(width) if i not in (0, last, last + 1, last + 2)}
    text, lead = polars_text(block)
    return pl.read_csv(
        text,
        has_header=False,
        separator="\t",
        quote_char=None,
        schema=schema,
        null_values=dashes or None,
        truncate_ragged_lines=False,
        empty_string_is_null=True,
        missing_columns="insert",
        raise_if_empty=False,
        infer_schema=False,
        skip_lines=skip + lead,
    )


def _field_count(line: bytes) -> int:
    return line.count(b"\t") + 1


def parse_block(
    block: bytes,
    first_line: int,
    names: list[str],
    *,
    what: str,
    comments: bool = False,
    types: dict[str, pl.DataType] | None = None,
    offset: int = 0,
) -> Parsed:
    """Parse ``block[offset:]`` (complete lines, each ending in a newline) whose fields are ``names``.

    ``offset`` (the start of a line) lets a reader skip the header lines that lead a chunk without
    copying the rest of it.
    ``what`` describes where the field list came from, for reject messages (e.g. "the #Fields header").
    With ``comments``, lines starting with ``#`` are meta lines returned in :attr:`Parsed.comments`
    (found by a vectorised test on the parsed rows, not by scanning the bytes).
    ``types`` names numeric columns Polars may parse directly; when any value in the block does not
    parse, the block is read as text instead and the typing step names the offending rows.
    """
    n = len(names)
    pre: list[dict[str, object]] = []
    # The first and last declared fields stay text: they tell blank and short lines apart.
    native = {i: t for i, name in enumerate(names) if (t := (types or {}).get(name)) is not None and 0 < i < n - 1}
    try:
        df = _read(block, n + 2, native, block.count(b"\n", 0, offset) if offset else 0)
    except pl.exceptions.PolarsError:
        block = block[offset:] if offset else block
        offset = 0
        native = {}
        try:
            df = _read(block, n + 2)
        except pl.exceptions.PolarsError:
            block, pre = _quarantine(block, first_line, n, what)
            df = _read(block, n + 2)
    # One row per physical line (blank lines included); the ingest coordinator cross-checks this
    # against the newline count of the stream, so a parser disagreement cannot lose lines quietly.
    n_lines = df.height
    pre_lines = {int(p["source_line"]) for p in pre}  # type: ignore[call-overload]
    cols = [f"c{i}" for i in range(n + 2)]
    line_no = pl.int_range(first_line, first_line + n_lines, dtype=pl.Int64, eager=True)
    blank = pl.all_horizontal([pl.col(c).is_null() for c in cols])
    bad = pl.col(f"c{n - 1}").is_null() | pl.col(f"c{n}").is_not_null() | pl.col(f"c{n + 1}").is_not_null()
    df = df.with_columns(line_no.alias("source_line"))
    # Blank lines and `#` lines have no last field, so they are among the "bad" rows: clean input
    # (no bad row) skips every other test.
    if not pre_lines and not df.select(bad.any()).item():
        good = df.select([pl.col(f"c{i}").alias(names[i]) for i in range(n)] + ["source_line"])
        return Parsed(good, pl.DataFrame(schema=LINE_REJECT_SCHEMA), n_lines, 0, [], [names[0], names[n - 1]])
    flags = df.select(blank.alias("blank"), bad.alias("bad"), pl.col("source_line"))
    found_comments: list[tuple[int, str]] = []
    if comments:
        hashes = df.get_column("c0").str.starts_with("#").fill_null(False)
        if hashes.any():
            hit = df.filter(hashes)
            text = hit.select(
                pl.concat_str(
                    [pl.col(c).cast(pl.String).fill_null("-") for c in cols], separator="\t"
                ).str.strip_chars_end("\t")
            ).to_series()
            found_comments = list(zip(hit.get_column("source_line").to_list(), text.to_list(), strict=True))
            flags = flags.with_columns(pl.col("blank") | hashes, pl.col("bad") & ~hashes)
    if pre_lines:
        flags = flags.with_columns(pl.col("source_line").is_in(list(pre_lines)).alias("pre"))
        blank_mask = flags.get_column("blank") & ~flags.get_column("pre")
        bad_mask = flags.get_column("bad") & ~flags.get_column("blank") & ~flags.get_column("pre")
        good_mask = ~flags.get_column("blank") & ~flags.get_column("bad")
    else:
        blank_mask = flags.get_column("blank")
        bad_mask = flags.get_column("bad") & ~blank_mask
        good_mask = ~blank_mask & ~flags.get_column("bad")
    meta = int(blank_mask.sum())
    rejects = pl.DataFrame(pre, schema=LINE_REJECT_SCHEMA) if pre else pl.DataFrame(schema=LINE_REJECT_SCHEMA)
    if bad_mask.any():
        bad_lines = flags.filter(bad_mask).get_column("source_line").to_list()
        raw_lines = (block[offset:] if offset else block).split(b"\n")
        recs = []
        for ln in bad_lines:
            raw = raw_lines[ln - first_line]
            found = _field_count(raw)
            recs.append(
                {
                    "source_line": ln,
                    "reason_code": reasons.FIELD_COUNT,
                    "reason": f"line has {found} tab-separated fields; {what} declares {n}",
                    "raw": raw_text(raw),
                }
            )
        rejects = pl.concat([rejects, pl.DataFrame(recs, schema=LINE_REJECT_SCHEMA)])
    kept = df if bool(good_mask.all()) else df.filter(good_mask)
    good = kept.select([pl.col(f"c{i}").alias(names[i]) for i in range(n)] + ["source_line"])
    return Parsed(good, rejects.sort("source_line"), n_lines, meta, found_comments, [names[0], names[n - 1]])


def _quarantine(block: bytes, first_line: int, n: int, what: str) -> tuple[bytes, list[dict[str, object]]]:
    """Find lines Polars cannot read (invalid UTF-8, too many fields), reject and blank them."""
    lines = block.split(b"\n")
    rejects: list[dict[str, object]] = []
    for i, line in enumerate(lines[:-1]):  # the block ends with a newline: the last piece is empty
        reason = None
        try:
            line.decode("utf-8")
        except UnicodeDecodeError as exc:
            reason = (reasons.INVALID_UTF8, f"bytes {exc.start}-{exc.end} are not valid UTF-8 ({exc.reason})")
        else:
            if any(line.rstrip(b"\r").split(b"\t")[n:]):  # anything but empty fields after the declared ones
                reason = (
                    reasons.FIELD_COUNT,
                    f"line has {_field_count(line)} tab-separated fields; {what} declares {n}",
                )
        if reason is not None:
            rejects.append(
                {"source_line": first_line + i, "reason_code": reason[0], "reason": reason[1], "raw": raw_text(line)}
            )
            lines[i] = b""
    return b"\n".join(lines), rejects
