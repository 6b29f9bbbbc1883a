"""Round trips: values encoded as AWS writes them read back identical; the lake returns what was read.

Hypothesis generates CloudFront standard-log and real-time records from the schemas (every field
typed per its column, text with spaces, quotes, ``%``, non-ASCII and ``<script>``), encodes them as
CloudFront does, writes them in a random ``#Fields`` order (standard) or from a shuffled field list
(real-time), and checks every value read back. The lake round trip checks that Polars' ``scan_delta``
and DuckDB see exactly the reader's rows, and that re-ingesting adds nothing.
"""

from __future__ import annotations

import string
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from helpers import (
    AWS_DOCS,
    BAD,
    CF_FIELDS_33,
    REALTIME,
    aws_encode,
    examples,
    manifest_of,
    read,
    sql,
    table,
    w3c_text,
    write,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from pipeline import schemas
from pipeline.ingest import IngestOptions, ingest
from pipeline.lake import Lake
from pipeline.readers.cloudfront import read_v2_json
from pipeline.readers.realtime import canonical_order, delivery_order, load_fields, read_realtime

SETTINGS = settings(max_examples=examples(40), deadline=None, suppress_health_check=[HealthCheck.too_slow])
SPECIAL_TEXT = [
    "Mozilla/5.0 (X11; Linux x86_64) \"quoted\" 'single'",
    "<script>alert('x')</script>",
    "100% sure & 50%25 off",
    "%2520 is not a space, %41 is not A",
    "café crème – naïve 東京 😀",
    "a\tb\nc\\d{e}|f^g~h[i]j`k#l",
    " ",
]
_SAFE = string.ascii_letters + string.digits + ".-_:/,=()+;@!$&*"
_INT_RANGES = {"int16": (0, 999), "int32": (0, 2**31 - 1), "int64": (0, 2**62)}


def _free_text() -> st.SearchStrategy[str]:
    chars = st.characters(exclude_categories=["Cs"])
    return st.one_of(st.text(chars, min_size=1, max_size=30), st.sampled_from(SPECIAL_TEXT)).filter(lambda v: v != "-")


def _field(table_name: str, field: str) -> st.SearchStrategy[tuple[str, Any]]:
    """(text as logged, typed value expected back) for one field, by its schema column."""
    col = schemas.load(table_name).column_for_field(field)
    t = col.type_text
    if t in _INT_RANGES:
        lo, hi = _INT_RANGES[t]
        fmt = "{:03d}" if field == "sc-status" else "{}"
        value: st.SearchStrategy[tuple[str, Any]] = st.integers(lo, hi).map(lambda n: (fmt.format(n), n))
    elif t == "float64":
        value = st.integers(0, 10**7).map(lambda n: (f"{n / 1000:.3f}", float(f"{n / 1000:.3f}")))
    elif col.decode == "url":
        value = _free_text().map(lambda v: (aws_encode(v), v))
    else:
        value = st.text(_SAFE, min_size=1, max_size=20).filter(lambda v: v != "-").map(lambda v: (v, v))
    return st.one_of(st.just(("-", None)), value)


@st.composite
def cf_records(draw: st.DrawFn) -> tuple[list[str], list[dict[str, str]], list[dict[str, Any]]]:
    fields = list(draw(st.permutations(CF_FIELDS_33)))
    if draw(st.booleans()):
        fields.insert(draw(st.integers(0, len(fields))), "x-new-thing")
    raws, expected = [], []
    for _ in range(draw(st.integers(1, 4))):
        day = draw(st.dates(date(2000, 1, 1), date(2099, 12, 31)))
        moment = draw(st.times()).replace(microsecond=0)
        raw = {"date": day.isoformat(), "time": moment.strftime("%H:%M:%S")}
        exp: dict[str, Any] = {
            "date": day,
            "time": raw["time"],
            "dt": day,
            "timestamp": datetime.combine(day, moment, tzinfo=UTC),
        }
        for f in fields:
            if f in raw:
                continue
            text, value = draw(_field("cloudfront", f))
            raw[f] = text
            exp[schemas.load("cloudfront").column_for_field(f).name] = value
        raws.append(raw)
        expected.append(exp)
    return fields, raws, expected


@st.composite
def rt_records(draw: st.DrawFn) -> tuple[list[str], list[list[str]], list[dict[str, Any]]]:
    others = [f for f in canonical_order() if f != "timestamp"]
    chosen = draw(st.lists(st.sampled_from(others), min_size=1, max_size=25, unique=True))
    listed = draw(st.permutations(["timestamp", *chosen]))  # as a user might list them
    order = [f for f in canonical_order() if f in listed]  # as CloudFront delivers them
    lines, expected = [], []
    for _ in range(draw(st.integers(1, 4))):
        ms = draw(st.integers(946_684_800_000, 4_102_444_799_999))
        instant = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)
        values = [f"{ms // 1000}.{ms % 1000:03d}"]
        exp: dict[str, Any] = {"timestamp": instant, "dt": instant.date()}
        for f in order[1:]:
            text, value = draw(_field("realtime", f))
            values.append(text)
            exp[schemas.load("realtime").column_for_field(f).name] = value
        lines.append(values)
        expected.append(exp)
    return list(listed), lines, expected


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("roundtrip")


def _check(rows: pl.DataFrame, expected: list[dict[str, Any]], first_line: int) -> None:
    assert rows.height == len(expected)
    for i, exp in enumerate(expected):
        row = rows.filter(pl.col("source_line") == first_line + i).row(0, named=True)
        for column, value in exp.items():
            assert row[column] == value, (column, value, row[column])


@SETTINGS
@given(case=cf_records())
def test_cloudfront_records_round_trip(
    scratch: Path, case: tuple[list[str], list[dict[str, str]], list[dict[str, Any]]]
) -> None:
    fields, raws, expected = case
    path = write(scratch / "E2ROUNDTRIP01.2024-01-01-00.rt.gz", w3c_text(fields, raws))
    res = read(path)
    assert res.rejects.height == 0, res.rejects.to_dicts()
    assert res.reconciles()
    _check(res.rows, expected, first_line=3)
    assert res.rows["distribution_id"].unique().to_list() == ["E2ROUNDTRIP01"]


@SETTINGS
@given(case=rt_records())
def test_realtime_records_round_trip(
    scratch: Path, case: tuple[list[str], list[list[str]], list[dict[str, Any]]]
) -> None:
    listed, lines, expected = case
    path = write(scratch / "rt.log", "".join("\t".join(v) + "\n" for v in lines))
    res = read(
        path, read_realtime, source="realtime", realtime_fields=delivery_order(listed), distribution_id="E2EXAMPLE1"
    )
    assert res.rejects.height == 0, res.rejects.to_dicts()
    assert res.reconciles()
    _check(res.rows, expected, first_line=1)


def test_aws_encode_matches_the_documented_set() -> None:
    assert aws_encode("a b\t\"#%<>{}|\\^~[]`'") == "a%20b%09%22%23%25%3C%3E%7B%7D%7C%5C%5E%7E%5B%5D%60%27"
    assert aws_encode("café/?&=;:,+$@!*()-_.") == "caf%C3%A9/?&=;:,+$@!*()-_."
    assert aws_encode("\x00\x1f\x7f") == "%00%1F%7F"


# --- the lake -----------------------------------------------------------------------------------------
LEGACY = [
    AWS_DOCS / "EMLARXS9EXAMPLE.2019-11-14-20.RT4KCN4SGK9",
    AWS_DOCS / "EMLARXS9EXAMPLE.2014-11-14-20.RT4KCN4SGK9",
]
V2 = AWS_DOCS / "v2-example.json"
RT_OBJECT = sorted(REALTIME.glob("20*/**/*.gz"))[0]


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> str:
    root = str(tmp_path_factory.mktemp("lake") / "lake")
    fields = load_fields(str(REALTIME / "realtime-config.json"))
    summary = ingest([*map(str, LEGACY), str(V2)], root)
    assert summary.rejects == 0
    summary = ingest([str(RT_OBJECT)], root, IngestOptions(realtime_fields=fields, distribution_id="E2EXAMPLE1"))
    assert summary.rejects == 0
    return root


def _sorted(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.sort("source_file", "source_line")


@pytest.mark.parametrize("name", ["cloudfront", "realtime"])
def test_polars_and_duckdb_see_the_same_rows(lake: str, name: str) -> None:
    via_polars = _sorted(pl.scan_delta(f"{lake}/{name}").collect())
    via_duckdb = _sorted(sql(lake, f"SELECT * FROM {name}"))
    assert via_polars.height > 0
    assert_frame_equal(via_duckdb, via_polars.select(via_duckdb.columns))
    assert via_polars.columns == [c.name for c in schemas.load(name).columns]


def test_lake_holds_exactly_what_the_readers_produced(lake: str) -> None:
    reads = [read(p).rows for p in LEGACY] + [read(V2, read_v2_json).rows]
    direct = _sorted(pl.concat(reads, how="diagonal_relaxed"))
    stored = _sorted(table(lake, "cloudfront"))
    assert_frame_equal(stored.select(direct.columns), direct)
    fields = load_fields(str(REALTIME / "realtime-config.json"))
    rt = read(RT_OBJECT, read_realtime, source="realtime", realtime_fields=fields, distribution_id="E2EXAMPLE1")
    assert_frame_equal(_sorted(table(lake, "realtime")).select(rt.rows.columns), _sorted(rt.rows))


def test_reingesting_the_same_files_adds_nothing(lake: str) -> None:
    before = {t: table(lake, t).height for t in ("cloudfront", "realtime", "rejects", "manifest")}
    versions = {t: Lake(lake).open(t).version() for t in ("cloudfront", "realtime", "manifest")}  # type: ignore[union-attr]
    fields = load_fields(str(REALTIME / "realtime-config.json"))
    again = ingest(
        [*map(str, LEGACY), str(V2), str(RT_OBJECT)],
        lake,
        IngestOptions(realtime_fields=fields, distribution_id="E2EXAMPLE1"),
    )
    assert (again.objects, again.skipped, again.rejects, again.lines) == (0, 4, 0, 0)
    assert sum(again.rows.values()) == 0
    assert {t: table(lake, t).height for t in before} == before
    assert {t: Lake(lake).open(t).version() for t in versions} == versions  # type: ignore[union-attr]
    assert len(manifest_of(lake)) == 4


def test_duckdb_filters_agree_with_polars(lake: str) -> None:
    """Filters pushed down into the Delta-backed datasets must not drop rows.

    Regression: Delta stats with min/max for only some columns made delta-rs add fragment guarantees
    ``col >= null and col <= null`` for the others, and DuckDB then answered 0 to ``sc_status = 502``.
    """
    cf = table(lake, "cloudfront")
    checks = {
        "SELECT count(*) FROM cloudfront WHERE sc_status = 502": cf.filter(pl.col("sc_status") == 502).height,
        "SELECT count(*) FROM cloudfront WHERE cs_referer IS NULL": cf["cs_referer"].null_count(),
        "SELECT count(*) FROM cloudfront WHERE asn = 16509": cf.filter(pl.col("asn") == 16509).height,
        "SELECT count(*) FROM realtime WHERE sc_status = 404": table(lake, "realtime")
        .filter(pl.col("sc_status") == 404)
        .height,
    }
    assert checks["SELECT count(*) FROM cloudfront WHERE sc_status = 502"] == 3
    got = {q: sql(lake, q).item() for q in checks}
    assert got == checks


def test_duckdb_null_filters_on_rejects_and_manifest(tmp_path: Path) -> None:
    lake = str(tmp_path / "lake")
    ingest([str(BAD / "field-count.log"), str(BAD / "empty.log"), str(BAD / "garbage.bin")], lake)
    checks = {
        "SELECT count(*) FROM rejects WHERE source_line IS NULL": 2,
        "SELECT count(*) FROM rejects WHERE source_line IS NOT NULL": 2,
        "SELECT count(*) FROM rejects WHERE source_line = 4": 1,
        "SELECT count(*) FROM manifest WHERE problem IS NULL": 1,
        "SELECT count(*) FROM cloudfront WHERE c_port > 1025": 2,
    }
    assert {q: sql(lake, q).item() for q in checks} == checks


def test_timestamps_survive_as_instants(lake: str) -> None:
    rows = _sorted(table(lake, "cloudfront"))
    v2 = rows.filter(pl.col("source_file") == str(V2))
    assert v2["timestamp"].to_list()[0] == datetime(2024, 11, 14, 21, 34, 6, 814000, tzinfo=UTC)
    legacy = rows.filter(pl.col("source_file") == str(LEGACY[0]))
    assert legacy["timestamp"].to_list()[0] == datetime.combine(date(2019, 12, 4), time(21, 2, 31), tzinfo=UTC)
