"""Rendering query results for people and programs: table, csv, json (array of objects), markdown."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

import polars as pl
import pyarrow as pa

FORMATS = ("table", "csv", "json", "markdown")


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="backslashreplace")
    return value


def render(result: pa.Table, fmt: str) -> str:
    frame = pl.from_arrow(result)
    assert isinstance(frame, pl.DataFrame)
    if fmt == "json":
        rows = [{k: _plain(v) for k, v in row.items()} for row in frame.iter_rows(named=True)]
        return json.dumps(rows, ensure_ascii=False, default=str, indent=None)
    if fmt == "csv":
        flat = frame.with_columns([pl.col(c).cast(pl.String) for c, t in frame.schema.items() if t.is_nested()])
        return flat.write_csv().rstrip("\n")
    if fmt == "markdown":
        return _markdown(frame)
    return _table(frame)


def _cell(value: Any) -> str:
    if value is None:
        return "NULL"
    text = str(_plain(value))
    return text.replace("\n", "\\n").replace("\t", "\\t")


def _table(frame: pl.DataFrame, max_width: int = 60) -> str:
    cols = frame.columns
    cells = [[_cell(v)[:max_width] for v in row] for row in frame.iter_rows()]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(cols)]
    line = "-+-".join("-" * w for w in widths)
    out = [" | ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True)), line]
    out += [" | ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
    out.append(f"({frame.height} row{'s' if frame.height != 1 else ''})")
    return "\n".join(out)


def _markdown(frame: pl.DataFrame) -> str:
    def esc(text: str) -> str:
        return text.replace("|", "\\|")

    out = ["| " + " | ".join(esc(c) for c in frame.columns) + " |",
           "|" + "|".join("---" for _ in frame.columns) + "|"]
    out += ["| " + " | ".join(esc(_cell(v)) for v in row) + " |" for row in frame.iter_rows()]
    return "\n".join(out)
