"""Text columns to typed columns, as the schema says, with a reason for every value that does not fit.

Readers produce string columns named after lake columns; this module applies the null token, decodes
URL-encoded columns (once, over distinct values), casts to the schema's types with Polars expressions,
and reports each row whose non-null text failed its cast. It also conforms a frame to the table's
column order, adding typed nulls for fields a file did not carry (a 24-field legacy file in a 33-field
table) and keeping unknown fields as trailing string columns.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

import polars as pl
import pyarrow as pa

from pipeline.readers.decode import url_decode
from pipeline.schemas import Column, Schema, parse_type

NULL_TOKENS = ("-", "")


def polars_type(col: Column) -> pl.DataType:
    return _polars_type(col.type_text)


@functools.lru_cache(maxsize=256)
def _polars_type(type_text: str) -> pl.DataType:
    # Through an empty table, not an empty array: Polars converts a bare array with pyarrow.compute,
    # whose import alone costs ~45 ms of CPU in every process.
    empty = pl.from_arrow(pa.schema([("x", parse_type(type_text))]).empty_table())
    assert isinstance(empty, pl.DataFrame)
    return empty.schema["x"]


_NATIVE = ("int8", "int16", "int32", "int64", "float32", "float64")


def native_types(schema: Schema, names: Iterable[str]) -> dict[str, pl.DataType]:
    """Numeric columns among ``names`` that the CSV parser can type directly (no text detour)."""
    out: dict[str, pl.DataType] = {}
    for name in names:
        col = schema.by_name.get(name)
        if col is not None and col.type_text in _NATIVE:
            out[name] = polars_type(col)
    return out


def null_exprs(frame: pl.DataFrame, columns: Iterable[str]) -> list[pl.Expr]:
    """``-`` and empty text mean "no value" in every field: one expression per text column."""
    return [
        pl.when(~pl.col(c).is_in(NULL_TOKENS)).then(pl.col(c)).alias(c) for c in columns if frame.schema[c] == pl.String
    ]


def nullify(frame: pl.DataFrame, columns: Iterable[str]) -> pl.DataFrame:
    exprs = null_exprs(frame, columns)
    return frame.with_columns(exprs) if exprs else frame


def decode_columns(frame: pl.DataFrame, schema: Schema) -> pl.DataFrame:
    todo = [c for c in frame.columns if (col := schema.by_name.get(c)) is not None and col.decode == "url"]
    if not todo:
        return frame
    return frame.with_columns([url_decode(frame.get_column(c)) for c in todo])


def cast_expr(name: str, col: Column) -> pl.Expr:
    """The text column ``name`` cast to ``col``'s type; null where the text does not fit."""
    src = pl.col(name)
    t = col.type_text
    if t in ("string", "large_string"):
        return src
    if t == "date32":
        return src.str.to_date("%Y-%m-%d", strict=False)
    if t == "bool":
        low = src.str.to_lowercase()
        return pl.when(low == "true").then(True).when(low == "false").then(False)
    if t == "timestamp":
        # epoch seconds with decimals (real-time logs) -> microseconds, rounded to kill float noise
        secs = src.cast(pl.Float64, strict=False)
        micros = (secs * 1_000_000).round(0)
        ok = micros.abs() < 2**62
        return pl.when(ok).then(micros).cast(pl.Int64, strict=False).cast(pl.Datetime("us", "UTC"))
    return src.cast(polars_type(col), strict=False)


def text_to_type(frame: pl.DataFrame, schema: Schema) -> dict[str, Column]:
    """The columns of ``frame`` still held as text that the schema types otherwise."""
    return {
        name: col
        for name in frame.columns
        if (col := schema.by_name.get(name)) is not None
        and col.type_text not in ("string", "large_string")
        and frame.schema[name] == pl.String
    }


def cast_columns(frame: pl.DataFrame, schema: Schema) -> tuple[pl.DataFrame, pl.Series | None]:
    """Cast string columns to their schema types.

    Returns the typed frame and, when any non-null text failed its cast, a string series with one
    reason per row (null for good rows); ``None`` when every row is good.
    """
    typed_cols = list(text_to_type(frame, schema).items())
    if not typed_cols:
        return frame, None
    typed = frame.with_columns([cast_expr(n, c).alias(n) for n, c in typed_cols])
    fails = [(frame.get_column(n).is_not_null() & typed.get_column(n).is_null()) for n, _ in typed_cols]
    any_fail = fails[0]
    for f in fails[1:]:
        any_fail = any_fail | f
    if not any_fail.any():
        return typed, None
    reason = pl.Series("reason", [None] * frame.height, dtype=pl.String)
    for (name, col), failed in zip(reversed(typed_cols), reversed(fails), strict=True):
        if not failed.any():
            continue
        text = (
            pl.lit(f"field {col.field or name}: ")
            + pl.lit("'")
            + frame.get_column(name).str.slice(0, 200)
            + pl.lit(f"' is not a valid {col.type_text}")
        )
        msg = frame.select(pl.when(pl.lit(failed)).then(text).otherwise(pl.lit(reason)).alias("r")).to_series()
        reason = msg
    return typed, reason


def layout_exprs(schema: Schema, available: dict[str, pl.Expr], extra: Iterable[str]) -> list[pl.Expr]:
    """The table's layout: schema columns in order, each from ``available`` or a typed null, then the
    ``extra`` (unknown) columns as text."""
    exprs: list[pl.Expr] = []
    for col in schema.columns:
        dtype = polars_type(col)
        source = available.get(col.name)
        exprs.append((pl.lit(None, dtype) if source is None else source.cast(dtype)).alias(col.name))
    exprs.extend(pl.col(c).cast(pl.String) for c in extra)
    return exprs


def conform(frame: pl.DataFrame, schema: Schema) -> pl.DataFrame:
    """Schema columns in schema order (typed nulls where absent), then unknown columns as text."""
    if not frame.columns:  # no rows either: literals alone would make one row of nulls
        return pl.DataFrame(schema={col.name: polars_type(col) for col in schema.columns})
    available = {c: pl.col(c) for c in frame.columns}
    return frame.select(layout_exprs(schema, available, [c for c in frame.columns if c not in schema.by_name]))
