"""Rendering query results for people and programs: table, csv, json (array of objects), markdown.

Owns turning any Arrow table DuckDB or Polars hands back into text, whatever its column types:
nested values (lists, structs, maps, fixed-size arrays), intervals, unions, binary, nanosecond
timestamps and duplicate column names included. Nested values are written as JSON text in every
format but json, where they stay JSON. Must not run queries or decide exit codes (the CLI and the
console do), and must not raise on any value a query can return.

Only csv goes through Polars, and only for the flat columns its CSV writer is known to take (it
refuses nested, binary and duration columns, and panics on 256-bit decimals); every other column is
converted to text here first. The flat columns still go through Polars for speed: a million rows of
four flat columns take 0.4 s there and 16 s through this module's per-value Python path.
"""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta
from typing import Any

import pyarrow as pa

FORMATS = ("table", "csv", "json", "markdown")
NULL_CELL = "NULL"


def render(result: pa.Table, fmt: str) -> str:
    result = unique_names(result)
    if fmt == "csv":
        return _csv(result)
    columns = [_values(column) for column in result.columns]
    rows = [list(row) for row in zip(*columns, strict=True)] if columns else []
    if fmt == "json":
        names = result.column_names
        objects = [{name: _plain(value) for name, value in zip(names, row, strict=True)} for row in rows]
        return json.dumps(objects, ensure_ascii=False, default=str, indent=None)
    if fmt == "markdown":
        return _markdown(result.column_names, rows)
    return _table(result.column_names, rows)


def unique_names(table: pa.Table) -> pa.Table:
    """Column names made unique (``a``, ``a_1``, ...): DuckDB allows repeats, objects and Polars do not."""
    seen: dict[str, int] = {}
    names = []
    for name in table.column_names:
        seen[name] = seen.get(name, 0) + 1
        names.append(name if seen[name] == 1 else f"{name}_{seen[name] - 1}")
    return table if names == table.column_names else table.rename_columns(names)


# --- Arrow values to Python values -------------------------------------------------------------------
def _values(column: pa.ChunkedArray) -> list[Any]:
    """The column's values as Python objects; maps become dicts.

    Python's datetime holds neither nanoseconds nor DuckDB's infinite dates, and a map keyed by
    structs cannot become a dict: such columns are converted again with every temporal value as
    Arrow's own text and maps as lists of ``[key, value]`` pairs.
    """
    try:
        # "lossy": a repeated map key keeps its last value; DuckDB's MAP refuses repeated keys anyway
        return column.to_pylist(maps_as_pydicts="lossy")  # type: ignore[no-any-return]
    except (pa.ArrowException, ValueError, OverflowError, TypeError):
        return column.cast(_temporals_as_text(column.type)).to_pylist()  # type: ignore[no-any-return]


def _temporals_as_text(t: pa.DataType) -> pa.DataType:
    if pa.types.is_temporal(t):
        return pa.string()
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_list_view(t):
        return pa.list_(t.value_field.with_type(_temporals_as_text(t.value_type)))
    if pa.types.is_fixed_size_list(t):
        return pa.list_(t.value_field.with_type(_temporals_as_text(t.value_type)), t.list_size)
    if pa.types.is_map(t):
        return pa.map_(
            t.key_field.with_type(_temporals_as_text(t.key_type)),
            t.item_field.with_type(_temporals_as_text(t.item_type)),
        )
    if pa.types.is_struct(t):
        return pa.struct([t.field(i).with_type(_temporals_as_text(t.field(i).type)) for i in range(t.num_fields)])
    return t


def interval_text(months: int, days: int, nanoseconds: int) -> str:
    """An interval as DuckDB prints it: ``1 month 2 days 01:30:00.5``."""
    parts = [f"{months} month{'s' * (abs(months) != 1)}"] if months else []
    parts += [f"{days} day{'s' * (abs(days) != 1)}"] if days else []
    if nanoseconds or not parts:
        sign, nanoseconds = ("-" if nanoseconds < 0 else ""), abs(nanoseconds)
        seconds, frac = divmod(nanoseconds, 1_000_000_000)
        clock = f"{sign}{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
        parts.append(clock + (f".{frac:09d}".rstrip("0") if frac else ""))
    return " ".join(parts)


def _plain(value: Any) -> Any:
    """A JSON-ready value: temporal values as ISO text, bytes as text, containers recursively."""
    if value is None or isinstance(value, str | int | float):
        return value
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, pa.MonthDayNano):  # DuckDB's INTERVAL; a tuple, so before the containers
        return interval_text(value.months, value.days, value.nanoseconds)
    if isinstance(value, timedelta):
        return interval_text(0, value.days, (value.seconds * 1_000_000 + value.microseconds) * 1000)
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="backslashreplace")
    if isinstance(value, dict):
        return {k if isinstance(k, str) else _text(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value  # Decimal and the like: json.dumps(default=str) writes their exact text


def _text(value: Any) -> str:
    """One value as text for a table cell or a CSV field; nested values as JSON."""
    plain = _plain(value)
    if isinstance(plain, dict | list):
        return json.dumps(plain, ensure_ascii=False, default=str)
    return str(plain)


# --- formats ------------------------------------------------------------------------------------------
def _polars_writes_csv(column: pa.ChunkedArray) -> bool:
    """Flat columns Polars' CSV writer takes and writes as this module would (date64 it writes as a datetime)."""
    t = column.type
    if pa.types.is_dictionary(t):
        return bool(pa.types.is_string(t.value_type) or pa.types.is_large_string(t.value_type))
    if pa.types.is_timestamp(t) or t == pa.date32():
        # DuckDB's infinite timestamps and dates make the writer panic: such columns take the Python path
        import pyarrow.compute as pc

        try:
            bounds = pc.min_max(column)
            bounds["min"].as_py(), bounds["max"].as_py()
        except (OverflowError, ValueError, pa.ArrowException):
            return False
        return True
    return (
        pa.types.is_integer(t)
        or t in (pa.float32(), pa.float64(), pa.bool_(), pa.null())
        or pa.types.is_string(t)
        or pa.types.is_large_string(t)
        or pa.types.is_string_view(t)
        or pa.types.is_time(t)
        or pa.types.is_decimal128(t)
    )


def _csv(result: pa.Table) -> str:
    import polars as pl  # here, not at the top: `edgelake sql` starts ~0.3 s sooner without Polars

    for i, column in enumerate(result.columns):
        if not _polars_writes_csv(column):
            text = pa.array([None if v is None else _text(v) for v in _values(column)], pa.string())
            result = result.set_column(i, result.field(i).name, text)
    frame = pl.from_arrow(result)
    assert isinstance(frame, pl.DataFrame)
    return frame.write_csv().rstrip("\n")


def _cell(value: Any) -> str:
    if value is None:
        return NULL_CELL
    return _text(value).replace("\n", "\\n").replace("\t", "\\t")


def _table(names: list[str], rows: list[list[Any]], max_width: int = 60) -> str:
    cells = [[_cell(v)[:max_width] for v in row] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(names)]
    line = "-+-".join("-" * w for w in widths)
    out = [" | ".join(c.ljust(w) for c, w in zip(names, widths, strict=True)), line]
    out += [" | ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
    out.append(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")
    return "\n".join(out)


def _markdown(names: list[str], rows: list[list[Any]]) -> str:
    def esc(text: str) -> str:
        return text.replace("|", "\\|")

    out = ["| " + " | ".join(esc(c) for c in names) + " |", "|" + "|".join("---" for _ in names) + "|"]
    out += ["| " + " | ".join(esc(_cell(v)) for v in row) + " |" for row in rows]
    return "\n".join(out)
