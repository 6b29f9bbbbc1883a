"""Every output format renders every Arrow type the lake holds, nested values included (pipeline/render.py).

csv writes nested values as JSON text, json keeps them as JSON, table and markdown show the same JSON
text in their cells; a null is an empty CSV field, JSON null, and NULL in a table or markdown cell.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from helpers import EDGELAKE, SAMPLES

from pipeline.ingest import IngestOptions, ingest
from pipeline.query.render import FORMATS, render

TS = datetime(2025, 3, 14, 12, 5, tzinfo=UTC)
HEADER = pa.struct([("name", pa.string()), ("value", pa.string())])
CAPTCHA = pa.struct([("response_code", pa.int16()), ("solve_timestamp", pa.int64()), ("failure_reason", pa.string())])

# name -> (Arrow type, the value in row 1, that value as JSON); row 2 is null in every column
COLUMNS: dict[str, tuple[pa.DataType, Any, Any]] = {
    "s": (pa.string(), "café|tab\there", "café|tab\there"),
    "ls": (pa.large_string(), "large", "large"),
    "sv": (pa.string_view(), "view", "view"),
    "i8": (pa.int8(), -8, -8),
    "i16": (pa.int16(), 404, 404),
    "i32": (pa.int32(), 2_000_000_000, 2_000_000_000),
    "i64": (pa.int64(), 1 << 40, 1 << 40),
    "f64": (pa.float64(), 0.25, 0.25),
    "b": (pa.bool_(), True, True),
    "d": (pa.date32(), date(2025, 3, 14), "2025-03-14"),
    "ts": (pa.timestamp("us", tz="UTC"), TS, "2025-03-14T12:05:00+00:00"),
    "tags": (pa.list_(pa.string()), ["a", "b,c", 'q"uote'], ["a", "b,c", 'q"uote']),
    "codes": (pa.list_(pa.int16()), [200, 404], [200, 404]),
    "headers": (
        pa.list_(HEADER),
        [{"name": "Host", "value": "example.com"}],
        [{"name": "Host", "value": "example.com"}],
    ),
    "captcha": (
        CAPTCHA,
        {"response_code": 0, "solve_timestamp": 1_741_953_900, "failure_reason": None},
        {"response_code": 0, "solve_timestamp": 1_741_953_900, "failure_reason": None},
    ),
    "m": (pa.map_(pa.string(), pa.int64()), [("k", 1), ("z", 2)], {"k": 1, "z": 2}),
    "when": (pa.list_(pa.timestamp("us", tz="UTC")), [TS], ["2025-03-14T12:05:00+00:00"]),
    "n": (pa.null(), None, None),
    "bin": (pa.binary(), b"\xffok", "\\xffok"),
}
NESTED = {"tags", "codes", "headers", "captcha", "m", "when"}


@pytest.fixture(scope="module")
def result() -> pa.Table:
    arrays = [pa.array([value, None], type=t) for t, value, _ in COLUMNS.values()]
    return pa.Table.from_arrays(arrays, names=list(COLUMNS))


def _cell_text(name: str) -> str:
    """What a table or markdown cell shows for row 1."""
    as_json = COLUMNS[name][2]
    if name in NESTED:
        return json.dumps(as_json, ensure_ascii=False)
    if name == "n":
        return "NULL"
    return str(as_json).replace("\t", "\\t")


def test_every_format_renders_every_type(result: pa.Table) -> None:
    for fmt in FORMATS:
        assert render(result, fmt)
        assert render(result.slice(0, 0), fmt) is not None


def test_json_keeps_nested_values_as_json(result: pa.Table) -> None:
    rows = json.loads(render(result, "json"))
    assert rows == [{name: as_json for name, (_, _, as_json) in COLUMNS.items()}, dict.fromkeys(COLUMNS)]


def test_csv_writes_nested_values_as_json_text(result: pa.Table) -> None:
    rows = list(csv.DictReader(io.StringIO(render(result, "csv"))))
    assert len(rows) == 2 and list(rows[0]) == list(COLUMNS)
    first, second = rows
    for name in NESTED:
        assert json.loads(first[name]) == COLUMNS[name][2], name
    assert first["s"] == "café|tab\there" and first["ls"] == "large" and first["sv"] == "view"
    assert [int(first[c]) for c in ("i8", "i16", "i32", "i64")] == [-8, 404, 2_000_000_000, 1 << 40]
    assert float(first["f64"]) == 0.25 and first["b"] == "true" and first["d"] == "2025-03-14"
    assert datetime.fromisoformat(first["ts"]) == TS
    assert first["n"] == "" and first["bin"] == "\\xffok"
    assert set(second.values()) == {""}


@pytest.mark.parametrize("fmt", ["table", "markdown"])
def test_table_and_markdown_show_json_text_and_null(result: pa.Table, fmt: str) -> None:
    lines = render(result, fmt).split("\n")
    sep = " | "
    if fmt == "markdown":
        lines = [ln.removeprefix("| ").removesuffix(" |") for ln in lines]
        del lines[1]  # the |---| rule
    else:
        assert lines.pop() == "(2 rows)"
        del lines[1]  # the -+- rule
    # markdown escapes the value's own '|'; the table format pads cells with spaces
    cells = [[c.strip().replace("\\|", "|") for c in ln.split(sep)] for ln in lines]
    assert cells[0] == list(COLUMNS)
    width = 60 if fmt == "table" else None  # the table format cuts cells at 60 characters
    assert cells[1] == [_cell_text(name)[:width] for name in COLUMNS]
    assert cells[2] == ["NULL"] * len(COLUMNS)


def test_columns_polars_cannot_hold_render_in_every_format() -> None:
    cols = {
        "iv": pa.array([pa.MonthDayNano([0, 1, 5_400_000_000_000])], pa.month_day_nano_interval()),
        "dec": pa.array([Decimal("123.45")], pa.decimal256(40, 2)),
        "ns": pa.array([1_741_953_900_123_456_789], pa.timestamp("ns", tz="UTC")),
        "dur": pa.array([90_000_000], pa.duration("us")),
    }
    table = pa.table(cols)
    assert render(table, "table").split("\n")[2].split(" | ")[0] == "1 day 01:30:00"
    assert render(table, "markdown").split("\n")[2].startswith("| 1 day 01:30:00 | 123.45 | ")
    assert json.loads(render(table, "json")) == [
        {"iv": "1 day 01:30:00", "dec": "123.45", "ns": "2025-03-14 12:05:00.123456789Z", "dur": "00:01:30"}
    ]
    assert render(table, "csv").split("\n") == [
        "iv,dec,ns,dur",
        "1 day 01:30:00,123.45,2025-03-14 12:05:00.123456789Z,00:01:30",
    ]


def test_repeated_column_names_are_told_apart() -> None:
    table = pa.Table.from_arrays([pa.array([1]), pa.array([2])], names=["a", "a"])
    assert render(table, "csv") == "a,a_1\n1,2"
    assert json.loads(render(table, "json")) == [{"a": 1, "a_1": 2}]


# --- the CLI: the reported crashes -------------------------------------------------------------------
def edgelake(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(EDGELAKE), *args], capture_output=True, text=True, timeout=120, cwd=cwd)


def test_sql_csv_with_nested_values(tmp_path: Path) -> None:
    done = edgelake(
        "sql",
        "SELECT [1,2] AS l, {'a': 1, 'b': ['x']} AS s, MAP {'k': DATE '2025-03-14'} AS m, NULL::INTEGER[] AS e",
        "--lake",
        str(tmp_path / "lake"),
        "--format",
        "csv",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["l,s,m,e", '"[1, 2]","{""a"": 1, ""b"": [""x""]}","{""k"": ""2025-03-14""}",']


@pytest.fixture(scope="module")
def waf_lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    lake = tmp_path_factory.mktemp("waf") / "lake"
    summary = ingest([str(SAMPLES / "waf")], str(lake), IngestOptions(source="waf"))
    assert summary.rows["waf"] > 0
    return lake


def test_waf_fp_candidates_csv_matches_json(waf_lake: Path, tmp_path: Path) -> None:
    runs = {
        fmt: edgelake("query", "waf-fp-candidates", "--lake", str(waf_lake), "--format", fmt, cwd=tmp_path)
        for fmt in ("csv", "json")
    }
    for done in runs.values():
        assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    as_json = json.loads(runs["json"].stdout)
    as_csv = list(csv.DictReader(io.StringIO(runs["csv"].stdout)))
    assert len(as_csv) == len(as_json) > 0
    for text_row, json_row in zip(as_csv, as_json, strict=True):
        assert list(text_row) == list(json_row)
        lists = [k for k, v in json_row.items() if isinstance(v, list)]
        assert {"top_uris", "methods", "reasons"} <= set(lists)
        for key in lists:
            assert json.loads(text_row[key]) == json_row[key]
        assert text_row["rule_id"] == json_row["rule_id"] and int(text_row["matches"]) == json_row["matches"]
