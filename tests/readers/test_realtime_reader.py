"""Contracts of the CloudFront real-time log reader: field lists, canonical order, exact values.

Real-time records have no header: the field list comes from a GetRealtimeLogConfig document or a
comma list, and CloudFront delivers in its canonical order whatever order the list names, so the
reader must sort the list before mapping. ``data/samples/realtime/`` holds a Firehose-style object
and a config that lists its fields alphabetically (made by its ``_make.py``).
"""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from helpers import (
    EDGELAKE,
    REALTIME,
    ReadResult,
    assert_reconciled,
    manifest_of,
    read,
    read_text,
    table,
    write,
)

from pipeline.errors import ConfigError
from pipeline.ingest import IngestOptions, ingest
from pipeline.readers.realtime import canonical_order, delivery_order, load_fields, read_realtime

CONFIG = REALTIME / "realtime-config.json"
OBJECTS = sorted(REALTIME.glob("20*/**/*.gz"))
FIELDS3 = load_fields("sc-status,timestamp,c-ip")


def _rt(tmp_path: Path, text: str, fields: tuple[str, ...] = FIELDS3, **ctx: object) -> ReadResult:
    return read_text(tmp_path, "rt.log", text, read_realtime, source="realtime", realtime_fields=fields, **ctx)


# --- field lists --------------------------------------------------------------------------------------
def test_field_list_is_sorted_into_canonical_order(tmp_path: Path) -> None:
    assert FIELDS3 == ("timestamp", "c-ip", "sc-status")
    res = _rt(tmp_path, "1684226820.937\t192.0.2.1\t200\n1684226821.004\t2001:db8::7\t000\n")
    assert res.rejects.height == 0
    assert res.rows.select("c_ip", "sc_status").rows() == [("192.0.2.1", 200), ("2001:db8::7", 0)]


def test_canonical_order_is_the_documented_one() -> None:
    order = canonical_order()
    assert order[:5] == ["timestamp", "c-ip", "s-ip", "time-to-first-byte", "sc-status"]
    assert order.index("cs-uri-stem") < order.index("x-edge-location") < order.index("cs-user-agent")
    assert order[order.index("cs-headers-count") + 1 :][:2] == [
        "primary-distribution-id",
        "primary-distribution-dns-name",
    ]
    assert order[-2:] == ["distribution-tenant-id", "connection-id"]


def test_getrealtimelogconfig_file(tmp_path: Path) -> None:
    listed = json.loads(CONFIG.read_text())["RealtimeLogConfig"]["Fields"]
    fields = load_fields(str(CONFIG))
    assert sorted(fields) == sorted(listed) and len(fields) == 43
    assert list(fields) != listed  # the sample lists them alphabetically, not as delivered
    assert list(fields) == [f for f in canonical_order() if f in listed]
    # the bare document (no RealtimeLogConfig wrapper) and a newline list file work the same way
    bare = write(tmp_path / "bare.json", json.dumps({"Fields": listed}))
    lines = write(tmp_path / "fields.txt", "\n".join(listed) + "\n")
    assert load_fields(bare) == load_fields(lines) == fields


def test_unknown_field_goes_last_and_is_kept(tmp_path: Path) -> None:
    fields = load_fields("x-future-field,sc-status,timestamp")
    assert fields == ("timestamp", "sc-status", "x-future-field")
    res = _rt(tmp_path, "1684226820.937\t200\tshiny\n", fields)
    assert res.rows.select("sc_status", "x_future_field").rows() == [(200, "shiny")]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("c-ip,sc-status", "timestamp"),
        ("timestamp,c-ip,timestamp", "more than once"),
        (" , ", "empty"),
    ],
)
def test_unusable_field_lists_are_config_errors(spec: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_fields(spec)


def test_config_json_without_fields_is_a_config_error(tmp_path: Path) -> None:
    path = write(tmp_path / "conf.json", json.dumps({"RealtimeLogConfig": {"Name": "x"}}))
    with pytest.raises(ConfigError, match="Fields"):
        load_fields(path)


def test_reading_without_a_field_list_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="--realtime-fields"):
        read_text(tmp_path, "rt.log", "1684226820.937\t192.0.2.1\n", read_realtime, source="realtime")


def test_cli_field_list_without_timestamp_exits_2(tmp_path: Path) -> None:
    res = subprocess.run(
        [
            str(EDGELAKE),
            "ingest",
            str(OBJECTS[0]),
            "--lake",
            str(tmp_path / "lake"),
            "--realtime-fields",
            "c-ip,sc-status",
            "--distribution-id",
            "E2EXAMPLE1",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert res.returncode == 2
    assert "Traceback" not in res.stderr
    err = res.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("edgelake: error:") and "timestamp" in err[0]


# --- values -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "instant"),
    [
        ("1684226820.937", datetime(2023, 5, 16, 8, 47, 0, 937000, tzinfo=UTC)),
        ("1684226820.001", datetime(2023, 5, 16, 8, 47, 0, 1000, tzinfo=UTC)),
        ("1684226820.000", datetime(2023, 5, 16, 8, 47, 0, tzinfo=UTC)),
        ("1684226820.999", datetime(2023, 5, 16, 8, 47, 0, 999000, tzinfo=UTC)),
        ("1684226820", datetime(2023, 5, 16, 8, 47, 0, tzinfo=UTC)),
        ("1735689599.999", datetime(2024, 12, 31, 23, 59, 59, 999000, tzinfo=UTC)),
    ],
)
def test_epoch_seconds_become_exact_instants(tmp_path: Path, text: str, instant: datetime) -> None:
    row = _rt(tmp_path, f"{text}\t192.0.2.1\t200\n").row(1)
    assert row["timestamp"] == instant
    assert row["dt"] == instant.date()


def test_uri_stem_keeps_its_query_string(tmp_path: Path) -> None:
    fields = load_fields("timestamp,cs-uri-stem,cs-uri-query")
    res = _rt(tmp_path, "1684226820.937\t/api/search?q=caf%25C3%25A9%2520x&n=1\tq=caf%25C3%25A9%2520x&n=1\n", fields)
    row = res.row(1)
    assert row["cs_uri_stem"] == "/api/search?q=caf%C3%A9%20x&n=1"
    assert row["cs_uri_query"] == "q=caf%C3%A9%20x&n=1"


def test_distribution_id_comes_from_the_context(tmp_path: Path) -> None:
    text = "1684226820.937\t192.0.2.1\t200\n"
    assert _rt(tmp_path, text, distribution_id="E2EXAMPLE1").row(1)["distribution_id"] == "E2EXAMPLE1"
    assert _rt(tmp_path, text).row(1)["distribution_id"] is None


def test_wrong_field_count_is_a_reject(tmp_path: Path) -> None:
    text = (
        "1684226820.937\t192.0.2.1\t200\n"
        "1684226821.100\t192.0.2.2\n"  # too few
        "1684226821.200\t192.0.2.3\t200\t-\textra\n"  # too many
        "1684226821.300\t192.0.2.4\t304\t\n"
    )  # one trailing empty field is tolerated
    res = _rt(tmp_path, text)
    assert res.rejects.select("source_line", "reason_code").rows() == [(2, "field_count"), (3, "field_count")]
    assert "declares 3" in res.rejects["reason"][0]
    assert res.rows["source_line"].to_list() == [1, 4]
    assert res.reconciles()


# --- the Firehose sample ------------------------------------------------------------------------------
def test_sample_object_key_has_the_firehose_shape() -> None:
    assert len(OBJECTS) == 1
    rel = OBJECTS[0].relative_to(REALTIME).as_posix()
    assert rel.startswith("2023/05/16/08/edgelake-rt-1-2023-05-16-08-47-03-") and rel.endswith(".gz")


def test_sample_ingests_cleanly(tmp_path: Path) -> None:
    lake = str(tmp_path / "lake")
    opts = IngestOptions(realtime_fields=load_fields(str(CONFIG)), distribution_id="E2EXAMPLE1")
    summary = ingest([str(OBJECTS[0])], lake, opts)
    assert summary.rejects == 0 and summary.rows["realtime"] == 36
    assert_reconciled(lake, summary)
    assert manifest_of(lake)[str(OBJECTS[0])]["source"] == "realtime"  # detected from the content
    rows = table(lake, "realtime")
    first = rows.row(0, named=True)
    assert first["timestamp"] == datetime(2023, 5, 16, 8, 47, 0, 937000, tzinfo=UTC)
    assert (first["c_ip"], first["sc_status"], first["cs_uri_stem"], first["x_edge_location"]) == (
        "192.0.2.6",
        200,
        "/api/items?id=42&lang=de",
        "LHR61-P2",
    )
    assert first["cs_user_agent"].startswith("Mozilla/5.0 (Windows NT 10.0; Win64; x64)")
    assert (first["time_to_first_byte"], first["time_taken"], first["origin_fbl"]) == (0.093, 0.152, 0.074)
    assert (first["c_country"], first["asn"], first["cache_behavior_path_pattern"]) == ("GB", 2856, "/api/*")
    assert first["cs_headers"].split("\n")[0] == "Host:www.example.com"
    assert rows["distribution_id"].unique().to_list() == ["E2EXAMPLE1"]
    assert rows["dt"].unique().to_list() == [date(2023, 5, 16)]
    ts = rows["timestamp"]
    assert ts.min() >= first["timestamp"] and ts.max() < first["timestamp"] + timedelta(minutes=2)
    assert sorted(rows["sc_status"].unique().to_list()) == [0, 200, 206, 304, 404, 502]
    counted = rows.select(pl.col("cs_headers").str.count_matches("\n") + 1 == pl.col("cs_headers_count"))
    assert counted.to_series().all()
    searched = rows.filter(pl.col("cs_uri_stem").str.starts_with("/api/search"))
    assert searched.height and searched["cs_uri_query"].unique().to_list() == ["q=caf%C3%A9%20cr%C3%A8me"]


def test_sample_read_in_small_chunks_matches(tmp_path: Path) -> None:
    fields = load_fields(str(CONFIG))
    whole = read(OBJECTS[0], read_realtime, source="realtime", realtime_fields=fields)
    small = read(OBJECTS[0], read_realtime, source="realtime", realtime_fields=fields, chunk_bytes=700)
    assert len(small.batches) > 1 and small.reconciles()
    assert small.rows.equals(whole.rows)


def test_delivery_order_keeps_an_ordered_list() -> None:
    ordered = tuple(canonical_order()[:10])
    assert delivery_order(ordered) == ordered
    assert delivery_order(tuple(reversed(ordered))) == ordered
