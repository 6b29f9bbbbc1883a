"""The contract every reader fulfils, and the helpers they share.

A reader turns one input object into :class:`Batch` values: typed rows for one lake table plus the
rejects of the same lines. Every physical line the reader consumed is accounted for in exactly one
of three counts (rows, line rejects, meta lines such as headers, comments and blank lines), so an
ingest run can prove ``lines = rows + rejects + meta`` for every object.

Readers are pure: bytes in, frames out. They never write to the lake, never print.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import polars as pl

from pipeline import schemas
from pipeline.readers import reasons
from pipeline.storage.chunks import ChunkStream

MAX_RAW = 64 << 10


def polars_schema(schema: schemas.Schema) -> dict[str, pl.DataType]:
    """The Polars dtypes of ``schema``'s columns, in order (what Polars makes of its Arrow types)."""
    empty = pl.from_arrow(schema.arrow_schema().empty_table())
    assert isinstance(empty, pl.DataFrame)
    return dict(empty.schema)


REJECT_SCHEMA = polars_schema(schemas.load("rejects"))  # the rejects table's columns, from schemas/rejects.toml
# What a reader's line parser reports per rejected line; the rest of REJECT_SCHEMA comes from the context.
LINE_REJECT_SCHEMA = {c: REJECT_SCHEMA[c] for c in ("source_line", "reason_code", "reason", "raw")}


@dataclass(frozen=True)
class ReadContext:
    """What a reader knows besides the bytes."""

    uri: str
    source: str
    distribution_id: str | None = None
    realtime_fields: tuple[str, ...] | None = None
    ingested_at: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass(frozen=True)
class ConfigTables:
    """One config document a document reader found: its rows per config table, and its version.

    ``key`` is the (column, value) whose rows in each table the new rows replace, when this is the
    latest version of that config (a newer config of the same distribution, web ACL or cache policy
    replaces the older one); None: nothing to key them by. ``version`` is its ``config_versions`` row.
    """

    tables: dict[str, pl.DataFrame]
    key: tuple[str, str] | None
    version: pl.DataFrame | None = None


@dataclass
class Batch:
    """Rows for ``table`` and the rejects of the same stretch of input.

    ``lines`` counts the physical lines this batch accounts for; ``meta_lines`` those among them that
    are headers, comments or blank. Invariant: ``lines == rows.height + rejects.height(line rejects) + meta_lines``.
    Object-level rejects (``source_line`` null) are not lines and are not counted in ``lines``.
    """

    table: str
    rows: pl.DataFrame
    rejects: pl.DataFrame
    lines: int
    meta_lines: int = 0

    @property
    def line_rejects(self) -> int:
        return int(self.rejects.get_column("source_line").is_not_null().sum())


Reader = Callable[[ChunkStream, ReadContext], Iterator[Batch]]


def raw_text(line: bytes | str) -> str:
    """A reject's raw text: invalid UTF-8 shown as ``\\xNN`` escapes, cut at 64 KiB."""
    text = line if isinstance(line, str) else line.decode("utf-8", errors="backslashreplace")
    return text if len(text) <= MAX_RAW else text[:MAX_RAW] + "…[cut]"


def rejects_frame(
    ctx: ReadContext,
    lines: Sequence[int | None],
    codes: Sequence[str],
    reasons: Sequence[str],
    raws: Sequence[str | None],
) -> pl.DataFrame:
    """Build a rejects frame (the ``rejects`` table's columns) for this object."""
    n = len(lines)
    return pl.DataFrame(
        {
            "source": [ctx.source] * n,
            "source_file": [ctx.uri] * n,
            "source_line": list(lines),
            "reason_code": list(codes),
            "reason": list(reasons),
            "raw": list(raws),
            "ingested_at": [ctx.ingested_at] * n,
        },
        schema=REJECT_SCHEMA,
    )


def empty_rejects() -> pl.DataFrame:
    return pl.DataFrame(schema=REJECT_SCHEMA)


def end_of_stream_rejects(stream: ChunkStream, ctx: ReadContext, *, empty: str) -> tuple[int, pl.DataFrame, str | None]:
    """How a fully read stream ended, as rejects: (extra lines, rejects, the object's problem or None).

    A gzip stream that breaks off leaves a cut last line (one more line, rejected) and an object-level
    ``truncated_gzip``; a stream without a single line is ``empty_object`` with the ``empty`` message.
    """
    extra, frames, problem = 0, [empty_rejects()], None
    if stream.cut_line is not None:
        line_no, tail = stream.cut_line
        extra = 1
        cut = "the line is cut off where the gzip stream breaks"
        frames.append(rejects_frame(ctx, [line_no], [reasons.TRUNCATED_LINE], [cut], [raw_text(tail)]))
    if stream.problem is not None:
        problem = stream.problem
        frames.append(rejects_frame(ctx, [None], [reasons.TRUNCATED_GZIP], [problem], [None]))
    elif stream.lines + extra == 0:
        problem = empty
        frames.append(rejects_frame(ctx, [None], [reasons.EMPTY_OBJECT], [problem], [None]))
    return extra, pl.concat(frames), problem


def rejects_from_frame(ctx: ReadContext, df: pl.DataFrame) -> pl.DataFrame:
    """Rejects from a frame with ``source_line``, ``reason_code``, ``reason``, ``raw`` columns (vectorised)."""
    return df.select(
        pl.lit(ctx.source, pl.String).alias("source"),
        pl.lit(ctx.uri, pl.String).alias("source_file"),
        pl.col("source_line").cast(pl.Int64),
        pl.col("reason_code").cast(pl.String),
        pl.col("reason").cast(pl.String),
        pl.col("raw").cast(pl.String).str.slice(0, MAX_RAW),
        pl.lit(ctx.ingested_at, pl.Datetime("us", "UTC")).alias("ingested_at"),
    )
