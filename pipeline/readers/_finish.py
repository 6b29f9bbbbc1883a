"""The common tail of the CloudFront readers: string columns in, typed rows and named rejects out.

Given a frame of raw text columns already named after lake columns (plus ``source_line``), this
module applies the null token, derives the typed UTC ``timestamp`` and ``distribution_id``, decodes
URL-encoded fields once, casts to the schema, splits rows whose values do not fit into rejects (with
the line's text rebuilt from its fields), and conforms the rest to the table's column order.
"""

from __future__ import annotations

import polars as pl

from pipeline.readers import reasons
from pipeline.readers._base import LINE_REJECT_SCHEMA, ReadContext, empty_rejects, rejects_from_frame
from pipeline.readers._typing import (
    cast_columns,
    cast_expr,
    conform,
    decode_columns,
    layout_exprs,
    null_exprs,
    nullify,
    text_to_type,
)
from pipeline.schemas import Schema

EPOCH_S = "__epoch_seconds"  # v2's plain `timestamp` field (epoch seconds), before it becomes `timestamp`
LINEAGE = ("source_line",)


def _timestamp_expr(columns: list[str]) -> pl.Expr | None:
    candidates: list[pl.Expr] = []
    if "timestamp_ms" in columns:
        ms = pl.col("timestamp_ms").cast(pl.Int64, strict=False)
        candidates.append(pl.when(ms.abs() < 2**52).then(ms * 1000).cast(pl.Datetime("us", "UTC")))
    if EPOCH_S in columns:
        secs = pl.col(EPOCH_S).cast(pl.Float64, strict=False)
        micros = (secs * 1_000_000).round(0)
        candidates.append(
            pl.when(micros.abs() < 2**62).then(micros).cast(pl.Int64, strict=False).cast(pl.Datetime("us", "UTC"))
        )
    if "date" in columns and "time" in columns:
        text = pl.concat_str([pl.col("date"), pl.col("time")], separator=" ")
        candidates.append(text.str.to_datetime("%Y-%m-%d %H:%M:%S", time_unit="us", time_zone="UTC", strict=False))
    if not candidates:
        return None
    return pl.coalesce(candidates) if len(candidates) > 1 else candidates[0]


def _distribution_expr(columns: list[str], distribution_id: str | None) -> pl.Expr | None:
    if distribution_id is None and "distribution_id" in columns:
        return None
    given = pl.lit(distribution_id, pl.String)
    return (pl.coalesce(pl.col("distribution_id"), given) if "distribution_id" in columns else given).alias(
        "distribution_id"
    )


_TYPED = "\x00typed:"  # prefix of a cast column while its text is still needed to spot failures
_BAD = "\x00bad"


def _fused(
    raw: pl.DataFrame, schema: Schema, ctx: ReadContext, distribution_id: str | None, null_cols: list[str]
) -> pl.DataFrame | None:
    """Every typing step as one Polars query; None when any row would be rejected.

    A chunk is typed once per query instead of once per step, with one collect (the step-by-step path
    in :func:`typed_rows` costs ~8 ms per chunk in fixed overhead alone). Clean chunks, by far the usual
    case, end here; a chunk with a row that does not fit goes through the step-by-step path, which
    names every reason.
    """
    columns = raw.columns
    ts = _timestamp_expr(columns) if "timestamp" not in columns else None
    if ts is None and "timestamp" not in columns:
        return None
    # Percent-decoding first (`-` and empty text decode to themselves), one column at a time: it looks
    # only at the rows holding a `%`, which a single query cannot do.
    plan = decode_columns(raw, schema).lazy()
    nulls = null_exprs(raw, null_cols)
    if nulls:
        plan = plan.with_columns(nulls)
    derived = [
        e
        for e in (None if ts is None else ts.alias("timestamp"), _distribution_expr(columns, distribution_id))
        if e is not None
    ]
    if derived:
        plan = plan.with_columns(derived)
    typed = text_to_type(raw, schema)
    if typed:
        plan = plan.with_columns([cast_expr(n, col).alias(_TYPED + n) for n, col in typed.items()])
    stamp = pl.col(_TYPED + "timestamp" if "timestamp" in typed else "timestamp")
    bad = pl.any_horizontal([stamp.is_null(), *[pl.col(n).is_not_null() & pl.col(_TYPED + n).is_null() for n in typed]])
    available = {c: pl.col(c) for c in (*columns, "timestamp", "distribution_id")}
    available |= {n: pl.col(_TYPED + n) for n in typed}
    available |= {"source_file": pl.lit(ctx.uri, pl.String), "dt": stamp.dt.date()}
    out = layout_exprs(schema, available, [c for c in columns if c not in schema.by_name and c != EPOCH_S])
    frame = plan.select(*out, bad.alias(_BAD)).collect()
    if frame.get_column(_BAD).any():
        return None
    return frame.drop(_BAD)


def typed_rows(
    raw: pl.DataFrame, schema: Schema, ctx: ReadContext, *, distribution_id: str | None, dashes: list[str] | None = None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Type ``raw`` (text columns + ``source_line``) into (rows, rejects) for ``schema``'s table.

    ``dashes`` names the columns that may still hold AWS's `-` or empty text (the tab reader nulls the
    others while parsing); None means every text column may.
    """
    text_cols = [c for c in raw.columns if c not in LINEAGE]
    null_cols = text_cols if dashes is None else [c for c in dashes if c in raw.columns]
    fast = _fused(raw, schema, ctx, distribution_id, null_cols)
    if fast is not None:
        return fast, empty_rejects()
    frame = nullify(raw, null_cols)
    ts = _timestamp_expr(frame.columns) if "timestamp" not in frame.columns else None
    if ts is not None:
        frame = frame.with_columns(ts.alias("timestamp"))
    dist = _distribution_expr(frame.columns, distribution_id)
    if dist is not None:
        frame = frame.with_columns(dist)
    frame = decode_columns(frame, schema)
    typed, reason = cast_columns(frame, schema)
    missing_ts = typed.get_column("timestamp").is_null() if "timestamp" in typed.columns else None
    if missing_ts is None:
        missing_ts = pl.Series([True] * typed.height)
    if missing_ts.any():
        ts_reason = pl.Series(
            ["no usable timestamp (needs date and time, timestamp(ms) or timestamp)"] * typed.height, dtype=pl.String
        )
        ts_reason = ts_reason.zip_with(missing_ts, pl.Series([None] * typed.height, dtype=pl.String))
        reason = ts_reason if reason is None else reason.fill_null(ts_reason)
    if reason is None:
        rows = typed
        rejects = rejects_from_frame(
            ctx,
            pl.DataFrame(schema=LINE_REJECT_SCHEMA),
        )
    else:
        bad = reason.is_not_null()
        rows = typed.filter(~bad)
        raw_bad = raw.filter(bad)
        line_text = pl.concat_str([pl.col(c).cast(pl.String).fill_null("-") for c in text_cols], separator="\t")
        rejects = rejects_from_frame(
            ctx,
            raw_bad.select(
                pl.col("source_line"),
                pl.lit(reasons.BAD_VALUE).alias("reason_code"),
                reason.filter(bad).alias("reason"),
                line_text.alias("raw"),
            ),
        )
    rows = rows.drop([c for c in (EPOCH_S,) if c in rows.columns])
    rows = rows.with_columns(pl.lit(ctx.uri, pl.String).alias("source_file"), pl.col("timestamp").dt.date().alias("dt"))
    return conform(rows, schema), rejects
