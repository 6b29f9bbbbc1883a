"""Contracts of the CloudFront standard-log readers (legacy W3C and v2 JSON): values, not "it ran".

Columns are mapped by the ``#Fields`` header (any order, repeated mid-file, fields AWS adds later),
``-`` is null, percent-encoded fields are decoded exactly once, ``distribution_id`` comes from the
object name, ``dt`` from the request itself, and AWS's own documentation examples read back to the
values in ``tests/expected/aws_docs.json``.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pytest
from helpers import (
    AWS_DOCS,
    CF_FIELDS_24,
    CF_FIELDS_33,
    assert_reconciled,
    cf_record,
    expected_aws_docs,
    expected_row,
    gz,
    read,
    read_text,
    table,
    w3c_text,
    write,
)

from pipeline import schemas
from pipeline.ingest import ingest
from pipeline.lake import Lake
from pipeline.readers._typing import polars_type
from pipeline.readers.cloudfront import distribution_from_uri, read_v2_json, read_w3c

LEGACY_33 = AWS_DOCS / "EMLARXS9EXAMPLE.2019-11-14-20.RT4KCN4SGK9"
LEGACY_24 = AWS_DOCS / "EMLARXS9EXAMPLE.2014-11-14-20.RT4KCN4SGK9"
V2_JSON = AWS_DOCS / "v2-example.json"
NEW_IN_33 = [schemas.column_name(f) for f in CF_FIELDS_33[24:]]


def _records() -> list[dict[str, str]]:
    return [
        cf_record(),
        cf_record(
            time="10:15:31",
            sc_status="404",
            cs_uri_stem="/missing%20page",
            c_port="40000",
            cs_referer="https://www.example.com/a?b=c",
            x_edge_result_type="Error",
            x_edge_detailed_result_type="Error",
            sc_content_len="-",
            time_taken="0.120",
        ),
        cf_record(
            time="10:15:32",
            sc_status="206",
            sc_range_start="0",
            sc_range_end="1023",
            cs_uri_query="v=3&lang=de",
            cs_cookie="session=abc",
            x_forwarded_for="203.0.113.9",
            fle_status="Processed",
            fle_encrypted_fields="2",
        ),
    ]


def _values(rows: pl.DataFrame) -> list[dict[str, Any]]:
    return rows.drop("source_file").sort("source_line").to_dicts()


# --- mapping by header ----------------------------------------------------------------------------------
def test_shuffled_fields_header_gives_identical_values(tmp_path: Path) -> None:
    shuffled = list(CF_FIELDS_33)
    random.Random(33).shuffle(shuffled)
    assert shuffled != list(CF_FIELDS_33)
    canonical = read_text(tmp_path, "a.log", w3c_text(CF_FIELDS_33, _records()))
    mixed = read_text(tmp_path, "b.log", w3c_text(shuffled, _records()))
    assert canonical.rejects.height == mixed.rejects.height == 0
    assert _values(mixed.rows) == _values(canonical.rows)
    for rec, row in zip(_records(), _values(mixed.rows), strict=True):
        assert {k: row[k] for k in expected_row("cloudfront", rec)} == expected_row("cloudfront", rec)


def test_unknown_new_field_is_kept_as_text(tmp_path: Path) -> None:
    recs = [dict(r, **{"x-new-thing": v}) for r, v in zip(_records(), ["alpha", "-", "42"], strict=True)]
    res = read_text(tmp_path, "new.log", w3c_text([*CF_FIELDS_33, "x-new-thing"], recs))
    assert res.rejects.height == 0
    assert res.rows.schema["x_new_thing"] == pl.String
    assert res.rows["x_new_thing"].to_list() == ["alpha", None, "42"]
    assert res.rows["sc_status"].to_list() == [200, 404, 206]  # the new field shifts nothing


def test_header_repeating_mid_file_with_other_fields(tmp_path: Path) -> None:
    a, b = _records()[1], cf_record(time="11:00:00", cs_protocol_version="HTTP/1.0", c_port="1")
    text = w3c_text(CF_FIELDS_33, [a, a]) + w3c_text(CF_FIELDS_24, [b, b])
    for chunk_bytes in (None, 64):  # one chunk, and many small chunks across the header change
        res = read(write(tmp_path / "mixed.log.gz", gz(text.encode())), chunk_bytes=chunk_bytes)
        assert res.rejects.height == 0 and res.reconciles()
        assert res.rows["source_line"].to_list() == [3, 4, 7, 8]
        assert res.meta_lines == 4
        for line, rec in ((3, a), (4, a)):
            row = res.row(line)
            assert {k: row[k] for k in expected_row("cloudfront", rec)} == expected_row("cloudfront", rec)
        for line in (7, 8):
            row = res.row(line)
            short = {f: b[f] for f in CF_FIELDS_24}
            assert {k: row[k] for k in expected_row("cloudfront", short)} == expected_row("cloudfront", short)
            assert all(row[c] is None for c in NEW_IN_33)


def test_24_and_33_field_files_share_one_table(tmp_path: Path) -> None:
    lake = str(tmp_path / "lake")
    newer = write(
        tmp_path / "E2NEWTHING01.2024-03-01-10.abcd1234",
        w3c_text([*CF_FIELDS_33, "x-new-thing"], [dict(cf_record(), **{"x-new-thing": "shiny"})]),
    )
    summary = ingest([str(LEGACY_24), str(LEGACY_33), newer], lake)
    assert summary.rejects == 0
    assert_reconciled(lake, summary)
    rows = table(lake, "cloudfront")
    assert set(schemas.load("cloudfront").by_name) <= set(rows.columns)
    assert "x_new_thing" in rows.columns
    old = rows.filter(pl.col("source_file") == str(LEGACY_24))
    assert old.height == 2
    assert all(old[c].null_count() == 2 for c in NEW_IN_33)
    assert old["cs_protocol_version"].to_list() == ["HTTP/1.1", "HTTP/1.1"]
    assert old["x_new_thing"].null_count() == 2
    new = rows.filter(pl.col("source_file") == str(LEGACY_33))
    assert new["c_port"].to_list() == [11040, 11040, 11040, 25260, 3802, 12644]
    assert rows.filter(pl.col("source_file") == newer)["x_new_thing"].to_list() == ["shiny"]


# --- values -------------------------------------------------------------------------------------------
def test_trailing_extra_tab_is_tolerated(tmp_path: Path) -> None:
    res = read_text(tmp_path, "tab.log", w3c_text(CF_FIELDS_33, _records(), trailing_tab=True))
    assert res.rejects.height == 0 and res.rows.height == 3
    assert res.rows["sc_range_end"].to_list() == [None, None, 1023]
    aws = read(LEGACY_33)  # line 5 of AWS's own example ends in a TAB
    assert aws.rejects.height == 0 and aws.row(5)["x_edge_request_id"].startswith("f37nTMVv")


def test_dash_is_null_in_every_field(tmp_path: Path) -> None:
    keep = {"date", "time"}  # the timestamp needs them
    rec = {f: (v if f in keep else "-") for f, v in cf_record().items()}
    res = read_text(tmp_path, "dash.log", w3c_text(CF_FIELDS_33, [rec]))
    assert res.rejects.height == 0
    row = res.row(3)
    for field in set(CF_FIELDS_33) - keep:
        assert row[schemas.column_name(field)] is None, field


def test_status_000_is_zero(tmp_path: Path) -> None:
    res = read_text(tmp_path, "s.log", w3c_text(CF_FIELDS_33, [cf_record(sc_status="000", x_edge_result_type="Error")]))
    assert res.rows["sc_status"].to_list() == [0]
    assert res.rows.schema["sc_status"] == pl.Int16


@pytest.mark.parametrize(
    ("raw", "decoded"),
    [
        ("%2520", "%20"),  # client-encoded, logged double-encoded: decoded exactly once
        ("u=http%253A%252F%252Fexample.com", "u=http%3A%2F%2Fexample.com"),
        ("a%20b", "a b"),
        ("caf%C3%A9", "café"),
        ("%E2%82%AC%20%F0%9F%98%80", "€ 😀"),
        ("%3Cscript%3Ealert(1)%3C/script%3E", "<script>alert(1)</script>"),
        ("%FF", "%FF"),  # bytes that are not UTF-8: the value stays as it was
        ("x%FFy%20z", "x%FFy%20z"),
        ("a%G1b", "a%G1b"),  # not an escape
        ("100%", "100%"),  # a lone percent sign
        ("%", "%"),
    ],
)
def test_percent_decoding_once(tmp_path: Path, raw: str, decoded: str) -> None:
    rec = cf_record(cs_uri_query=raw, cs_user_agent=raw, cs_referer=raw, cs_cookie=raw, cs_uri_stem="/p/" + raw)
    row = read_text(tmp_path, "enc.log", w3c_text(CF_FIELDS_33, [rec])).row(3)
    assert [row["cs_uri_query"], row["cs_user_agent"], row["cs_referer"], row["cs_cookie"]] == [decoded] * 4
    assert row["cs_uri_stem"] == "/p/" + decoded


def test_undecoded_fields_keep_their_text(tmp_path: Path) -> None:
    row = read_text(
        tmp_path,
        "raw.log",
        w3c_text(
            CF_FIELDS_33, [cf_record(x_host_header="caf%C3%A9.example", x_forwarded_for="203.0.113.9,%20198.51.100.7")]
        ),
    ).row(3)
    assert row["x_host_header"] == "caf%C3%A9.example"
    assert row["x_forwarded_for"] == "203.0.113.9,%20198.51.100.7"


@pytest.mark.parametrize(
    ("path", "dist"),
    [
        ("example-prefix/EMLARXS9EXAMPLE.2019-11-14-20.RT4KCN4SGK9.gz", "EMLARXS9EXAMPLE"),
        ("E2ABCDEF123456.2024-03-01-23.a1b2c3d4.gz", "E2ABCDEF123456"),
        ("logs/E1Q2W3E4R5T6Y7.2024-03-01-00.0f9e8d7c", "E1Q2W3E4R5T6Y7"),
        ("logs/access.log", None),
        ("logs/e2abcdef123456.2024-03-01-23.a1b2c3d4.gz", None),  # ids are upper case
    ],
)
def test_distribution_id_from_object_name(tmp_path: Path, path: str, dist: str | None) -> None:
    assert distribution_from_uri("s3://bucket/" + path) == dist
    res = read(write(tmp_path / path, gz(w3c_text(CF_FIELDS_33, _records()).encode())))
    assert res.rows["distribution_id"].to_list() == [dist] * 3


def test_dt_is_the_request_date_not_the_file_hour(tmp_path: Path) -> None:
    name = tmp_path / "E2ABCDEF123456.2024-03-01-23.late0001.gz"
    recs = [
        cf_record(date="2024-03-01", time="23:59:59"),
        cf_record(date="2024-03-02", time="00:00:01"),
        cf_record(date="2024-03-02", time="00:07:30"),
    ]
    write(name, gz(w3c_text(CF_FIELDS_33, recs).encode()))
    lake = str(tmp_path / "lake")
    summary = ingest([str(name)], lake)
    assert_reconciled(lake, summary)
    rows = table(lake, "cloudfront")
    assert rows.select("dt", "timestamp").rows() == [
        (date(2024, 3, 1), datetime(2024, 3, 1, 23, 59, 59, tzinfo=UTC)),
        (date(2024, 3, 2), datetime(2024, 3, 2, 0, 0, 1, tzinfo=UTC)),
        (date(2024, 3, 2), datetime(2024, 3, 2, 0, 7, 30, tzinfo=UTC)),
    ]
    parts = sorted(p.name for p in (tmp_path / "lake" / "cloudfront").iterdir() if p.name.startswith("dt="))
    assert parts == ["dt=2024-03-01", "dt=2024-03-02"]


def test_typed_columns_have_the_schema_types(tmp_path: Path) -> None:
    schema = schemas.load("cloudfront")
    rows = read(LEGACY_33).rows
    assert rows.columns == [c.name for c in schema.columns]
    for col in schema.columns:
        assert rows.schema[col.name] == polars_type(col), col.name
    lake = str(tmp_path / "lake")
    ingest([str(LEGACY_33)], lake)
    dt = Lake(lake).open("cloudfront")
    assert dt is not None
    stored = pa.schema(dt.schema().to_arrow())
    for col in schema.columns:
        assert stored.field(col.name).type == col.arrow_type, col.name


def test_reading_in_small_chunks_changes_nothing(tmp_path: Path) -> None:
    text = (LEGACY_24.read_text() + LEGACY_33.read_text()).encode()
    bad = text + b"2019-12-13\t22:36:27\tSEA19-C1\ttoo few\n" + b"\xff\xfe\n" + LEGACY_33.read_bytes()
    path = write(tmp_path / "E2ABCDEF123456.2019-12-13-22.x.gz", gz(bad))
    whole = read(path)
    assert whole.rejects.select("source_line", "reason_code").rows() == [(13, "field_count"), (14, "invalid_utf8")]
    for chunk_bytes in (1, 97, 1000):
        part = read(path, chunk_bytes=chunk_bytes)
        assert len(part.batches) > 1 and part.reconciles()
        assert _values(part.rows) == _values(whole.rows)
        assert part.rejects.drop("ingested_at").equals(whole.rejects.drop("ingested_at"))


# --- standard logging v2 JSON -------------------------------------------------------------------------
def test_v2_json_lands_in_the_same_table(tmp_path: Path) -> None:
    recs = [
        {
            "DistributionId": "E3V2EXAMPLE01",
            "date": "2024-11-14",
            "time": "23:59:59",
            "timestamp(ms)": "1731628799999",
            "x-edge-location": "SOF50-P2",
            "asn": "16509",
            "c-country": "BG",
            "cache-behavior-path-pattern": "/api/*",
            "sc-status": "000",
            "cs-uri-stem": "/api/caf%C3%A9",
            "time-taken": "0.012",
            "origin-fbl": "0.251",
        },
        {
            "DistributionId": "E3V2EXAMPLE01",
            "timestamp(ms)": "1731628800001",
            "asn": "3320",
            "c-country": "DE",
            "cache-behavior-path-pattern": "*",
            "sc-status": "200",
        },  # no date/time
        {"timestamp": "1731628801.25", "x-edge-location": "FRA56-P1", "sc-status": "304"},  # epoch seconds
    ]
    src = write(tmp_path / "v2" / "part-0001.json", "".join(json.dumps(r) + "\n" for r in recs))
    lake = str(tmp_path / "lake")
    summary = ingest([src, str(LEGACY_33)], lake)
    assert summary.rejects == 0
    assert_reconciled(lake, summary)
    rows = table(lake, "cloudfront", source_file=src)
    assert rows.select("source_line", "timestamp", "dt").rows() == [
        (1, datetime(2024, 11, 14, 23, 59, 59, 999000, tzinfo=UTC), date(2024, 11, 14)),
        (2, datetime(2024, 11, 15, 0, 0, 0, 1000, tzinfo=UTC), date(2024, 11, 15)),
        (3, datetime(2024, 11, 15, 0, 0, 1, 250000, tzinfo=UTC), date(2024, 11, 15)),
    ]
    assert rows["distribution_id"].to_list() == ["E3V2EXAMPLE01", "E3V2EXAMPLE01", None]
    assert rows["asn"].to_list() == [16509, 3320, None]
    assert rows["c_country"].to_list() == ["BG", "DE", None]
    assert rows["cache_behavior_path_pattern"].to_list() == ["/api/*", "*", None]
    assert rows["sc_status"].to_list() == [0, 200, 304]
    assert rows["cs_uri_stem"].to_list() == ["/api/café", None, None]
    assert rows["timestamp_ms"].to_list() == [1731628799999, 1731628800001, None]
    assert rows["origin_fbl"].to_list() == [0.251, None, None]
    assert table(lake, "cloudfront").height == 9  # next to the legacy rows


# --- AWS's own examples ---------------------------------------------------------------------------------
def _aws_cases() -> list[tuple[str, str]]:
    files = expected_aws_docs()["files"]
    return [(name, line) for name, spec in files.items() for line in spec["rows"]]


def _expected_value(column: str, value: Any) -> Any:
    if value is None:
        return None
    if column == "timestamp":
        return datetime.fromisoformat(value)
    if column in ("date", "dt"):
        return date.fromisoformat(value)
    return value


@pytest.fixture(scope="module")
def aws_reads() -> dict[str, Any]:
    out = {}
    for name in expected_aws_docs()["files"]:
        reader = read_v2_json if name.endswith(".json") else read_w3c
        out[name] = read(AWS_DOCS / name, reader)
    return out


def test_aws_doc_files_read_cleanly(aws_reads: dict[str, Any]) -> None:
    for name, spec in expected_aws_docs()["files"].items():
        res = aws_reads[name]
        assert spec["source"] == "cloudfront"
        assert res.rejects.height == 0, name
        assert res.rows.height == len(spec["rows"]), name
        assert res.meta_lines == spec["header_lines"] and res.reconciles(), name
        assert sorted(res.rows["source_line"].to_list()) == sorted(int(k) for k in spec["rows"])


@pytest.mark.parametrize(("name", "line"), _aws_cases())
def test_aws_doc_example_values(aws_reads: dict[str, Any], name: str, line: str) -> None:
    expected = expected_aws_docs()["files"][name]["rows"][line]
    row = aws_reads[name].row(int(line))
    for column, value in expected.items():
        want = _expected_value(column, value)
        got = row[column]
        if isinstance(want, float):
            assert got == pytest.approx(want, rel=0, abs=1e-9), column
        else:
            assert got == want, column  # datetimes compare as instants (both are UTC-aware)
    assert row["dt"] == row["timestamp"].date()
