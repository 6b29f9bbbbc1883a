"""Reader for AWS WAF (WAFv2) web ACL logs: newline-delimited JSON in, typed ``waf`` rows and rejects out.

Owns: turning each chunk of a WAF log object into one :class:`Batch` whose rows have exactly the
columns of ``schemas/waf.toml``; the JSON-side shape of a WAF record (derived from that schema:
struct members are the camelCase forms of the schema's snake_case names); the normalisation of odd
real-world values (``"120"`` as a number, ``"-"`` and ``"null"`` as null, header objects with other
keys); and the ``unmodeled`` column, which keeps every non-null value the schema does not model.

How a chunk is read. The fast path hands the chunk's lines to Arrow's JSON reader with the record
schema given and unknown keys inferred, then reshapes the result column-wise. It is only trusted when
every line opens with ``{``, closes with ``}`` and holds few brackets (Arrow crashes on some non-object
lines and on very deep nesting), when it yields one row per line, and when every value cast cleanly.
Otherwise the lines of *that chunk* are loaded one by one with :mod:`json`, bad ones become rejects,
and the good ones go through the fast path again; if that still fails (say a number written as a
string), each record is fitted to the schema in Python and converted to Arrow in one call. Both
routes end in the same column-wise typing, so a line reads the same whichever route it took.

Must not: write to the lake, print, or drop a line: every line becomes a row, a reject or a meta line
(blank), and ``lines == rows + line rejects + meta_lines`` holds for every batch.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.json as pa_json

from pipeline import schemas
from pipeline.errors import SchemaError
from pipeline.readers import reasons
from pipeline.readers._base import (
    Batch,
    ReadContext,
    empty_rejects,
    polars_schema,
    raw_text,
    rejects_frame,
    rejects_from_frame,
)
from pipeline.storage.chunks import ChunkStream

TABLE = "waf"

# Columns read from inside `httpRequest` (the schema gives their path in `derived`).
_HTTP_REQUEST = (
    "client_ip",
    "country",
    "uri",
    "args",
    "http_method",
    "http_version",
    "request_id",
    "host",
    "scheme",
    "fragment",
    "headers",
)
# Numbers AWS writes either as JSON numbers or as strings ("evaluationWindowSec": "120"): left out of
# the schema given to Arrow so it infers whatever the chunk holds, then cast.
_LOOSE = frozenset({"maxRateAllowed", "evaluationWindowSec"})
_DASH_IS_NULL = ("http_source_name", "http_source_id", "country")
# Plausible epoch milliseconds: 2000-01-01 .. 2100-01-01 (seconds or microseconds fall outside).
_TS_MIN_MS, _TS_MAX_MS = 946_684_800_000, 4_102_444_800_000
# A line with more brackets than this is parsed by Python first: Arrow's parser recurses per nesting
# level and crashes the process on hostile nesting (about 100,000 levels).
_MAX_BRACKETS = 512
_INT_TEXT = re.compile(r"-?[0-9]+")
_KINDS = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}


# --- the JSON-side layout, derived from schemas/waf.toml --------------------------------------------
def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _json_type(t: pa.DataType, *, loose: bool) -> pa.DataType:
    """The type as it appears in the JSON: camelCase members; without ``loose``, loose members left out."""
    if pa.types.is_struct(t):
        fields = []
        for f in t:
            key = _camel(f.name)
            if schemas.column_name(key) != f.name:
                raise SchemaError(f"schemas/{TABLE}.toml: struct member {f.name!r} has no camelCase JSON key")
            if loose or key not in _LOOSE:
                fields.append(pa.field(key, _json_type(f.type, loose=loose)))
        return pa.struct(fields)
    if pa.types.is_list(t):
        return pa.list_(_json_type(t.value_type, loose=loose))
    return t


@dataclass(frozen=True)
class _Layout:
    schema: schemas.Schema
    top: tuple[tuple[str, str, pa.DataType], ...]  # (JSON key, column, column type)
    http: tuple[tuple[str, str, pa.DataType], ...]  # the same for httpRequest members
    full: pa.Schema  # the whole record as JSON types (what the Python route builds)
    fast: pa.Schema  # the same without the loose members (what Arrow's reader is given)
    polars: dict[str, pl.DataType]


@functools.cache
def _layout() -> _Layout:
    schema = schemas.load(TABLE)
    top = tuple((c.field, c.name, c.arrow_type) for c in schema.columns if c.field is not None)
    http = tuple((_camel(n), n, schema.by_name[n].arrow_type) for n in _HTTP_REQUEST)

    def record(loose: bool) -> pa.Schema:
        fields = []
        for key, name, t in top:
            if name == "timestamp":
                fields.append(pa.field(key, pa.int64()))
            elif name == "labels":
                fields.append(pa.field(key, pa.list_(pa.struct([("name", pa.string())]))))
            else:
                fields.append(pa.field(key, _json_type(t, loose=loose)))
        members = pa.struct([pa.field(k, _json_type(t, loose=loose)) for k, _, t in http])
        return pa.schema([*fields, pa.field("httpRequest", members)])

    return _Layout(schema, top, http, record(True), record(False), polars_schema(schema))


def schema_columns(df: pl.DataFrame, schema: schemas.Schema) -> pl.DataFrame:
    """``df`` with exactly ``schema``'s columns, in order and typed: missing ones become typed nulls."""
    target = _layout().polars if schema.name == TABLE else polars_schema(schema)
    exprs = []
    current = df.schema  # built once: a nested schema is costly to rebuild per column
    for name, dtype in target.items():
        if name not in current:
            exprs.append(pl.lit(None, dtype=dtype).alias(name))
        elif current[name] != dtype:
            exprs.append(pl.col(name).cast(dtype))
        else:
            exprs.append(pl.col(name))
    return df.select(exprs)


# --- public entry point -------------------------------------------------------------------------------
def read_waf(stream: ChunkStream, ctx: ReadContext) -> Iterator[Batch]:
    """Read a WAF log object: one :class:`Batch` of ``waf`` rows and rejects per chunk of ``stream``.

    Parameters
    ----------
    stream
        The object's decompressed, line-aligned chunks.
    ctx
        The object's URI (``source_file`` of every row and reject) and source name.

    Returns
    -------
    Batches whose ``rows`` match ``schemas/waf.toml`` exactly; blank lines are counted as meta lines.
    """
    for chunk in stream:
        yield _read_chunk(chunk.data, chunk.first_line, ctx)


# --- one chunk ----------------------------------------------------------------------------------------
@dataclass
class _Rejects:
    lines: list[int]
    codes: list[str]
    reasons: list[str]
    raws: list[str]

    def add(self, line: int, code: str, reason: str, raw: bytes | str) -> None:
        self.lines.append(line)
        self.codes.append(code)
        self.reasons.append(reason)
        self.raws.append(raw_text(raw))


def _read_chunk(data: bytes, first_line: int, ctx: ReadContext) -> Batch:
    if data and not data.endswith(b"\n"):
        data += b"\n"  # ChunkStream always ends a chunk with one; a last line without it is still a line
    n_lines = data.count(b"\n")
    rejects = _Rejects([], [], [], [])
    try:
        text = data.decode("utf-8")
        lines = (
            pl.Series("text", [text])
            .str.split("\n")
            .explode()
            .head(n_lines)
            .to_frame()
            .with_row_index("source_line", offset=first_line)
            .with_columns(pl.col("source_line").cast(pl.Int64))
        )
        clean_bytes: bytes | None = data
    except UnicodeDecodeError:
        texts: list[str | None] = []
        for i, raw in enumerate(data.split(b"\n")[:n_lines]):
            try:
                texts.append(raw.decode("utf-8"))
            except UnicodeDecodeError as exc:
                reason = f"line is not valid UTF-8: byte 0x{raw[exc.start]:02x} at offset {exc.start}"
                rejects.add(first_line + i, reasons.INVALID_UTF8, reason, raw)
                texts.append(None)
        lines = pl.DataFrame(
            {"source_line": range(first_line, first_line + n_lines), "text": texts},
            schema={"source_line": pl.Int64, "text": pl.String},
        ).drop_nulls("text")
        clean_bytes = None
    blank = pl.col("text").str.strip_chars(" \t\r") == ""
    meta = int(lines.select(blank.sum()).item())
    if meta:
        lines = lines.filter(~blank)
        clean_bytes = None
    rows, late_rejects = _parse(lines, clean_bytes, rejects, ctx)
    parts = [rejects_frame(ctx, rejects.lines, rejects.codes, rejects.reasons, rejects.raws), late_rejects]
    all_rejects = pl.concat(parts).sort("source_line") if late_rejects.height else parts[0]
    return Batch(table=TABLE, rows=rows, rejects=all_rejects, lines=n_lines, meta_lines=meta)


def _parse(
    lines: pl.DataFrame, clean_bytes: bytes | None, rejects: _Rejects, ctx: ReadContext
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Rows (and timestamp rejects) for non-blank ``lines``; per-line rejects are added to ``rejects``."""
    stripped = pl.col("text").str.strip_chars(" \t\r")
    plain = (
        stripped.str.starts_with("{")
        & stripped.str.ends_with("}")
        & (
            pl.col("text").str.count_matches("{", literal=True) + pl.col("text").str.count_matches("[", literal=True)
            <= _MAX_BRACKETS
        )
    )
    loaded: dict[int, dict[str, Any]] = {}
    suspects = lines.filter(~plain)
    if suspects.height:
        clean_bytes = None
        lines = _load_lines(lines, suspects, loaded, rejects)
    fast = _fast(lines, clean_bytes, loaded)
    if fast is None:
        lines = _load_lines(lines, lines.filter(~pl.col("source_line").is_in(list(loaded))), loaded, rejects)
        fast = _fast(lines, None, loaded)
    if fast is None:
        flat, unmodeled = _python_route(lines, loaded)
    else:
        flat, unmodeled = fast
    return _typed_rows(flat, lines, unmodeled, ctx)


def _load_lines(
    lines: pl.DataFrame, todo: pl.DataFrame, loaded: dict[int, dict[str, Any]], rejects: _Rejects
) -> pl.DataFrame:
    """Load ``todo`` one by one into ``loaded``; reject the bad ones; return ``lines`` without them."""
    bad: list[int] = []
    for line, text in todo.iter_rows():
        obj, code, reason = _load(text)
        if obj is None:
            rejects.add(line, code, reason, text)
            bad.append(line)
        else:
            loaded[line] = obj
    return lines.filter(~pl.col("source_line").is_in(bad)) if bad else lines


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _load(text: str) -> tuple[dict[str, Any] | None, str, str]:
    """(record, "", "") or (None, reason_code, reason) for one line."""
    obj, code, reason = _decode(text)
    if obj is None:
        return obj, code, reason
    ts = obj.get("timestamp")
    if ts is None:
        return None, reasons.MISSING_FIELD, "record has no timestamp"
    if _as_int(ts, -(1 << 63), (1 << 63) - 1) is None:
        return None, reasons.BAD_VALUE, f"timestamp {_short(ts)} is not an integer count of epoch milliseconds"
    return obj, "", ""


def _decode(text: str) -> tuple[dict[str, Any] | None, str, str]:
    """A JSON object from one line, or (None, reason_code, reason)."""
    try:
        obj = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        return None, reasons.INVALID_JSON, "line is nested too deeply to parse"
    except json.JSONDecodeError as exc:
        return None, reasons.INVALID_JSON, f"line is not valid JSON: {exc.msg} at column {exc.colno}"
    except ValueError as exc:
        return None, reasons.INVALID_JSON, f"line is not valid JSON: {exc}"
    if not isinstance(obj, dict):
        kind = _KINDS.get(type(obj), "a number")
        return None, reasons.NOT_AN_OBJECT, f"line is JSON {kind}, not an object (WAF writes one object per line)"
    return obj, "", ""


# --- the fast, column-wise route ----------------------------------------------------------------------
def _fast(
    lines: pl.DataFrame, clean_bytes: bytes | None, loaded: dict[int, dict[str, Any]]
) -> tuple[pa.Table, pl.Series] | None:
    """Parse all ``lines`` with Arrow and reshape them; None when the chunk needs the careful route."""
    layout = _layout()
    if lines.height == 0:
        return _flatten(layout.full.empty_table()), pl.Series("unmodeled", [], pl.String)
    if clean_bytes is None:
        clean_bytes = (lines.get_column("text").str.join("\n").item() + "\n").encode("utf-8")
    longest = int(lines.select(pl.col("text").str.len_bytes().max()).item())
    try:
        table = pa_json.read_json(
            pa.BufferReader(clean_bytes),
            read_options=pa_json.ReadOptions(use_threads=True, block_size=max(1 << 22, longest + 2)),
            parse_options=pa_json.ParseOptions(
                explicit_schema=layout.fast, newlines_in_values=False, unexpected_field_behavior="infer"
            ),
        )
        if table.num_rows != lines.height:
            return None  # a line held two objects
        flat = _flatten(table)
        extra = _extras_mask(table, layout.full)
    except (pa.ArrowException, pl.exceptions.PolarsError):
        return None
    unmodeled = pl.repeat(None, lines.height, dtype=pl.String, eager=True).alias("unmodeled")
    if extra is not None and extra.any():
        picked = lines.filter(extra)
        texts: list[str | None] = []
        for line, text in picked.iter_rows():
            obj = loaded.get(line)
            if obj is None:
                obj, _, _ = _decode(text)
                if obj is None:
                    return None  # Arrow took what json refuses (NaN, Infinity): judge line by line
            texts.append(_unmodeled_text(_fit(obj, _spec(layout.full), "")[1]))
        idx = pl.Series(range(lines.height)).filter(extra)
        unmodeled = unmodeled.scatter(idx, pl.Series(texts, dtype=pl.String))
    return flat, unmodeled


def _extras_mask(table: pa.Table, known: pa.Schema) -> pl.Series | None:
    """Per row: does it hold a non-null value under a key the schema does not model?"""
    kinds = {f.name: f.type for f in known}
    parsed = pa.struct(list(table.schema))
    if not _has_extras(parsed, pa.struct(list(known))):
        return None
    exprs = []
    for f in table.schema:
        if f.name not in kinds:
            exprs.append(pl.col(f.name).is_not_null())
        else:
            sub = _extra_expr(pl.col(f.name), f.type, kinds[f.name])
            if sub is not None:
                exprs.append(sub)
    df = pl.from_arrow(
        table.select([f.name for f in table.schema if f.name not in kinds or _has_extras(f.type, kinds[f.name])])
    )
    assert isinstance(df, pl.DataFrame)
    return df.select(pl.any_horizontal(exprs).fill_null(False).alias("extra")).to_series()


def _has_extras(t: pa.DataType, known: pa.DataType) -> bool:
    if pa.types.is_struct(t) and pa.types.is_struct(known):
        names = {f.name: f.type for f in known}
        return any(f.name not in names or _has_extras(f.type, names[f.name]) for f in t)
    if pa.types.is_list(t) and pa.types.is_list(known):
        return _has_extras(t.value_type, known.value_type)
    return False


def _extra_expr(e: pl.Expr, t: pa.DataType, known: pa.DataType) -> pl.Expr | None:
    if pa.types.is_struct(t) and pa.types.is_struct(known):
        names = {f.name: f.type for f in known}
        parts = []
        for f in t:
            if f.name not in names:
                parts.append(e.struct.field(f.name).is_not_null())
            else:
                sub = _extra_expr(e.struct.field(f.name), f.type, names[f.name])
                if sub is not None:
                    parts.append(sub)
        return pl.any_horizontal(parts).fill_null(False) if parts else None
    if pa.types.is_list(t) and pa.types.is_list(known):
        sub = _extra_expr(pl.element(), t.value_type, known.value_type)
        return None if sub is None else e.list.eval(sub).list.any().fill_null(False)
    return None


def _flatten(table: pa.Table) -> pa.Table:
    """JSON-shaped table -> one column per schema column (schema names and types), httpRequest spread out."""
    layout = _layout()
    n = table.num_rows
    cols: dict[str, pa.ChunkedArray] = {}

    def column(key: str) -> pa.ChunkedArray | None:
        return table.column(key) if key in table.column_names else None

    for key, name, target in layout.top:
        raw = column(key)
        if name == "timestamp":
            cols["timestamp_ms"] = _chunks(raw, pa.int64(), n, lambda a: a.cast(pa.int64()))
        elif name == "labels":
            cols[name] = _chunks(raw, target, n, _label_names)
        else:
            cols[name] = _chunks(raw, target, n, functools.partial(_retype, target=target))
    http = column("httpRequest")
    pieces: dict[str, list[pa.Array]] = {name: [] for _, name, _ in layout.http}
    for chunk in http.chunks if http is not None else [pa.nulls(n, layout.full.field("httpRequest").type)]:
        members = chunk.flatten()  # children with the parent's nulls applied
        for key, name, target in layout.http:
            idx = chunk.type.get_field_index(key)
            pieces[name].append(pa.nulls(len(chunk), target) if idx < 0 else _retype(members[idx], target))
    for _, name, target in layout.http:
        cols[name] = pa.chunked_array(pieces[name], type=target)
    return pa.table(cols)


def _chunks(
    col: pa.ChunkedArray | None, target: pa.DataType, n: int, fn: Callable[[pa.Array], pa.Array]
) -> pa.ChunkedArray:
    if col is None:
        return pa.chunked_array([pa.nulls(n, target)], type=target)
    return pa.chunked_array([fn(c) for c in col.chunks], type=target)


def _label_names(arr: pa.Array) -> pa.Array:
    labels = _retype(arr, pa.list_(pa.struct([("name", pa.string())])))
    mask = labels.is_null() if labels.null_count else None
    return pa.ListArray.from_arrays(labels.offsets, labels.values.field(0), mask=mask)


def _retype(arr: pa.Array, target: pa.DataType) -> pa.Array:
    """Rename JSON members to schema names and cast leaves; raises ArrowException on a lossy cast."""
    if pa.types.is_null(arr.type):
        return pa.nulls(len(arr), target)
    mask = arr.is_null() if arr.null_count else None
    if pa.types.is_struct(target):
        children = arr.flatten()
        fields = []
        for f in target:
            idx = arr.type.get_field_index(_camel(f.name))
            fields.append(pa.nulls(len(arr), f.type) if idx < 0 else _retype(children[idx], f.type))
        return pa.StructArray.from_arrays(fields, fields=list(target), mask=mask)
    if pa.types.is_list(target):
        return pa.ListArray.from_arrays(arr.offsets, _retype(arr.values, target.value_type), type=target, mask=mask)
    return arr if arr.type == target else arr.cast(target)


# --- the careful, per-record route --------------------------------------------------------------------
def _python_route(lines: pl.DataFrame, loaded: dict[int, dict[str, Any]]) -> tuple[pa.Table, pl.Series]:
    """Fit each loaded record to the schema in Python; build the Arrow table in one call."""
    layout = _layout()
    spec = _spec(layout.full)
    records, leftovers = [], []
    for line in lines.get_column("source_line"):
        fitted, strays = _fit(loaded[line], spec, "")
        records.append(fitted)
        leftovers.append(_unmodeled_text(strays))
    table = pa.Table.from_pylist(records, schema=layout.full)
    return _flatten(table), pl.Series("unmodeled", leftovers, pl.String)


# A spec is a cheap mirror of an Arrow type for the per-record walk:
# ("struct", {key: spec}) | ("list", spec) | ("string",) | ("int", lowest, highest)
_Spec = tuple[Any, ...]


@functools.cache
def _spec_of(t: pa.DataType) -> _Spec:
    if pa.types.is_struct(t):
        return ("struct", {f.name: _spec_of(f.type) for f in t})
    if pa.types.is_list(t):
        return ("list", _spec_of(t.value_type))
    if pa.types.is_integer(t):
        bits = t.bit_width - 1
        return ("int", -(1 << bits), (1 << bits) - 1)
    return ("string",)


def _spec(schema: pa.Schema) -> _Spec:
    return _spec_of(pa.struct(list(schema)))


def _fit(value: Any, spec: _Spec, path: str) -> tuple[Any, dict[str, Any]]:
    strays: dict[str, Any] = {}
    return _fit_into(value, spec, path, strays), strays


def _fit_into(value: Any, spec: _Spec, path: str, strays: dict[str, Any]) -> Any:
    """``value`` shaped to ``spec``; anything that does not fit goes to ``strays`` under its path."""
    if value is None:
        return None
    kind = spec[0]
    if kind == "struct":
        if not isinstance(value, dict):
            strays[path] = value
            return None
        members = spec[1]
        out = {}
        for key, item in value.items():
            sub = f"{path}.{key}" if path else key
            if key in members:
                out[key] = _fit_into(item, members[key], sub, strays)
            elif item is not None:
                strays[sub] = item
        return out
    if kind == "list":
        if not isinstance(value, list):
            strays[path] = value
            return None
        return [_fit_into(item, spec[1], f"{path}[{i}]", strays) for i, item in enumerate(value)]
    if kind == "int":
        number = _as_int(value, spec[1], spec[2])
        if number is None:
            strays[path] = value
        return number
    if isinstance(value, str):
        return _valid_text(value)
    strays[path] = value
    return None


def _as_int(value: Any, lowest: int, highest: int) -> int | None:
    """An integer from a JSON number or a string of digits, when it is whole and in range."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float):
        if not math.isfinite(value) or not value.is_integer():
            return None
        value = int(value)
    elif isinstance(value, str):
        if not _INT_TEXT.fullmatch(value.strip()):
            return None
        value = int(value)
    if isinstance(value, int) and lowest <= value <= highest:
        return value
    return None


def _valid_text(text: str) -> str:
    """Lone surrogates (``"\\ud800"`` is valid JSON, not valid Unicode) become U+FFFD."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def _unmodeled_text(strays: dict[str, Any]) -> str | None:
    if not strays:
        return None
    text = json.dumps(strays, ensure_ascii=False, separators=(",", ":"))
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = json.dumps(strays, separators=(",", ":"))
    return text


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 80 else text[:80] + "…"


# --- typed rows: the same column-wise tail for both routes --------------------------------------------------
def _typed_rows(
    flat: pa.Table, lines: pl.DataFrame, unmodeled: pl.Series, ctx: ReadContext
) -> tuple[pl.DataFrame, pl.DataFrame]:
    df = pl.from_arrow(flat)
    assert isinstance(df, pl.DataFrame)
    df = df.with_columns(lines.get_column("source_line"), lines.get_column("text"), unmodeled)
    ms = pl.col("timestamp_ms")
    usable = ms.is_not_null() & (ms >= _TS_MIN_MS) & (ms < _TS_MAX_MS)
    rejected = df.filter(~usable).select(
        "source_line",
        reason_code=pl.when(ms.is_null()).then(pl.lit(reasons.MISSING_FIELD)).otherwise(pl.lit(reasons.BAD_VALUE)),
        reason=pl.when(ms.is_null())
        .then(pl.lit("record has no timestamp"))
        .otherwise(pl.format("timestamp {} is not epoch milliseconds between 2000-01-01 and 2100-01-01", ms)),
        raw=pl.col("text"),
    )
    is_host = pl.element().struct.field("name").str.to_lowercase() == "host"
    host_header = pl.col("headers").list.filter(is_host).list.first().struct.field("value")
    rows = (
        df.filter(usable)
        .with_columns(
            pl.from_epoch(ms, time_unit="ms").dt.cast_time_unit("us").dt.replace_time_zone("UTC").alias("timestamp"),
            pl.coalesce(pl.col("host"), host_header).alias("host"),
            pl.when(pl.col("request_id") != "null").then(pl.col("request_id")).alias("request_id"),
            *(pl.when(pl.col(c) != "-").then(pl.col(c)).alias(c) for c in _DASH_IS_NULL),
            pl.lit(ctx.uri, pl.String).alias("source_file"),
        )
        .with_columns(pl.col("timestamp").dt.date().alias("dt"))
    )
    rejects = rejects_from_frame(ctx, rejected) if rejected.height else empty_rejects()
    return schema_columns(rows, _layout().schema), rejects
