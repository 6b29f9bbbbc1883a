"""Lake compaction (``pipeline.compact`` and ``edgelake compact``): what it merges, and what it must keep.

The lake is built the way deliveries build it: several small objects per day, ingested in several runs,
so every old ``dt`` partition holds several small files and ``manifest``/``rejects`` hold one file per
run. The clock is fixed (``NOW``) so "today" and "older than 2 days" are known days. Every test states
a fact about rows, files or versions: rows are preserved table by table, young partitions are not
touched, a reader holding an older version keeps reading it, the ingest's application transaction ids
survive, a changed object re-ingested after compaction loses its old rows, vacuum deletes only what
the retention allows.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pytest
from deltalake import DeltaTable
from helpers import CF_FIELDS_33, EDGELAKE, SAMPLES, cf_record, gz, sql, w3c_text, write

from pipeline.compact import CompactSummary, compact
from pipeline.errors import UsageError
from pipeline.ingest import ingest
from pipeline.ingest.unit import object_app_id
from pipeline.lake import Lake
from pipeline.times import parse_duration

NOW = datetime(2024, 3, 5, 12, 0, tzinfo=UTC)  # "today" is 2024-03-05
OLD_DAYS = ("2024-03-01", "2024-03-02")  # more than 2 days old on NOW: compacted
YOUNG_DAYS = ("2024-03-04", "2024-03-05")  # yesterday and today: left to the writers
OBJECTS_PER_DAY = 3
RECORDS_PER_OBJECT = 4


def _records(day: str, hour: int) -> list[dict[str, str]]:
    return [
        cf_record(
            date=day,
            time=f"{hour:02d}:{i:02d}:00",
            sc_bytes=str(1000 * hour + i),
            x_edge_location=f"FRA{hour}-P{i}",
            sc_range_end=str(i) if i % 2 else "-",
        )
        for i in range(RECORDS_PER_OBJECT)
    ]


def _cf_object(src: Path, day: str, hour: int) -> Path:
    path = src / day / f"E1EXAMPLE.{day}-{hour:02d}.a{hour}.gz"
    write(path, gz(w3c_text(CF_FIELDS_33, _records(day, hour)).encode()))
    return path


def build_lake(tmp: Path) -> tuple[Path, str]:
    """Inputs under ``tmp/src`` ingested into ``tmp/lake`` in one run per day (plus one for WAF)."""
    src, lake = tmp / "src", str(tmp / "lake")
    for day in (*OLD_DAYS, *YOUNG_DAYS):
        for hour in range(OBJECTS_PER_DAY):
            _cf_object(src, day, hour)
    # one object with a broken line, so rejects has rows of its own
    bad = w3c_text(CF_FIELDS_33, _records(OLD_DAYS[0], 9)).replace("\tGET\t", "\tGET\textra\t", 1)
    write(src / OLD_DAYS[0] / "E1EXAMPLE.2024-03-01-09.bad.gz", gz(bad.encode()))
    waf = (SAMPLES / "waf" / "aws-docs.jsonl").read_bytes()
    for name in ("waf-a.jsonl", "waf-b.jsonl"):  # same day twice: two small files in one waf partition
        write(src / "waf" / name, waf)
    for sub in (*OLD_DAYS, *YOUNG_DAYS, "waf"):
        summary = ingest([str(src / sub)], lake)
        assert summary.failed == 0, summary.problems
    return src, lake


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("compact-template")
    build_lake(tmp)
    return tmp / "lake"


@pytest.fixture
def lake(template: Path, tmp_path: Path) -> str:
    """A private copy of the template lake (Delta logs hold relative paths, so a copy is a lake)."""
    shutil.copytree(template, tmp_path / "lake")
    return str(tmp_path / "lake")


def _files(lake: str, table: str) -> list[str]:
    dt = Lake(lake).open(table)
    assert dt is not None
    return sorted(pa.table(dt.get_add_actions(flatten=False)).column("path").to_pylist())


def _rows(lake: str, table: str) -> pl.DataFrame:
    frame = Lake(lake).scan(table).collect()
    keys = [c for c in ("source_file", "source_line", "object_uri", "reason_code") if c in frame.columns]
    return frame.sort(keys, nulls_last=True)


def _run(lake: str, **kwargs: Any) -> CompactSummary:
    return compact(lake, now=NOW, **kwargs)


# --- what gets merged, what is left alone ----------------------------------------------------------
def test_old_partitions_are_merged_rows_preserved_young_partitions_untouched(lake: str) -> None:
    tables = ("cloudfront", "waf", "rejects", "manifest")
    rows_before = {t: _rows(lake, t) for t in tables}
    files_before = {t: _files(lake, t) for t in tables}
    young_before = [f for f in files_before["cloudfront"] if f.split("/")[0] in {f"dt={d}" for d in YOUNG_DAYS}]
    assert len(young_before) == len(YOUNG_DAYS) * OBJECTS_PER_DAY

    summary = _run(lake)

    assert summary.cutoff == date(2024, 3, 3)
    assert summary.absent == ["realtime", "rollup_minute"]
    by_table = {t.table: t for t in summary.tables}
    assert set(by_table) == set(tables)
    for t in tables:
        assert _rows(lake, t).equals(rows_before[t]), t  # the same rows, value for value
        report = by_table[t]
        assert report.rows_before == report.rows_after == rows_before[t].height, t
        assert report.files_before == len(files_before[t]), t
        assert report.files_after == len(_files(lake, t)), t
        assert report.files_after == report.files_before - report.files_removed + report.files_added, t
    cf = by_table["cloudfront"]
    assert cf.partition_filter == "dt < 2024-03-03"
    # each old day: 3 objects (4 on the day with the bad line) merged into one file
    assert (cf.partitions, cf.files_added, cf.files_removed) == (2, 2, 2 * OBJECTS_PER_DAY + 1)
    after = _files(lake, "cloudfront")
    for day in OLD_DAYS:
        assert len([f for f in after if f.startswith(f"dt={day}/")]) == 1
    assert [f for f in after if f.split("/")[0] in {f"dt={d}" for d in YOUNG_DAYS}] == young_before
    # unpartitioned tables are merged whole: one file per ingest run before, one file after
    assert by_table["manifest"].partition_filter is None
    assert (by_table["manifest"].files_before, by_table["manifest"].files_after) == (5, 1)
    waf = by_table["waf"]  # the sample spans three days; two copies of it, one merged file per day
    assert (waf.partitions, waf.files_before, waf.files_after) == (3, 6, 3)
    # compacted files are zstd Parquet
    one = Path(lake) / "cloudfront" / next(f for f in after if f.startswith(f"dt={OLD_DAYS[0]}/"))
    import pyarrow.parquet as pq

    assert pq.ParquetFile(one).metadata.row_group(0).column(0).compression == "ZSTD"


def test_a_second_compaction_changes_nothing(lake: str) -> None:
    _run(lake)
    versions = {t: Lake(lake).open(t).version() for t in ("cloudfront", "manifest")}  # type: ignore[union-attr]
    again = {t.table: t for t in _run(lake).tables}
    assert all(t.files_removed == 0 and t.files_added == 0 for t in again.values())
    assert {t: again[t].version_after for t in versions} == versions


def test_older_than_zero_takes_every_day_before_today(lake: str) -> None:
    cf = _run(lake, older_than=timedelta(0), tables=["cloudfront"]).tables[0]
    assert cf.partition_filter == "dt < 2024-03-05"
    assert cf.partitions == 3  # 03-01, 03-02 and 03-04; today's 03-05 still has its small files
    after = _files(lake, "cloudfront")
    assert len([f for f in after if f.startswith("dt=2024-03-05/")]) == OBJECTS_PER_DAY


def test_queries_give_the_same_answers_after_compaction(lake: str) -> None:
    # source_file and sc_range_end are late columns: delta-rs keeps statistics for the first 32 only
    statement = (
        "SELECT dt, count(*) AS n, sum(sc_bytes) AS b FROM cloudfront WHERE sc_range_end = 1 "
        "OR source_file LIKE '%-00.a0.gz' GROUP BY dt ORDER BY dt"
    )
    before = sql(lake, statement)
    polars_before = Lake(lake).scan("cloudfront").filter(pl.col("sc_range_end") == 1).select(pl.len()).collect()
    _run(lake)
    assert sql(lake, statement).equals(before)
    # per object the i=1 record; all four of each hour-0 object; the bad object's line 1 is a reject
    assert before.height == 4 and before.get_column("n").to_list() == [7, 6, 6, 6]
    polars_after = Lake(lake).scan("cloudfront").filter(pl.col("sc_range_end") == 1).select(pl.len()).collect()
    assert polars_after.item() == polars_before.item() == 4 * OBJECTS_PER_DAY + 1


# --- readers, transactions, re-ingest ----------------------------------------------------------------
def test_a_reader_holding_an_older_version_keeps_reading_it(lake: str) -> None:
    uri = Lake(lake).table_uri("cloudfront")
    version = Lake(lake).open("cloudfront").version()  # type: ignore[union-attr]
    reader = DeltaTable(uri, version=version)
    expected = pl.from_arrow(reader.to_pyarrow_table())
    assert isinstance(expected, pl.DataFrame)
    old_paths = _files(lake, "cloudfront")

    # the shortest retention allowed: the files compaction removed just now must stay for this reader
    summary = _run(lake, older_than=timedelta(0), retention=timedelta(hours=1))
    assert summary.tables[0].files_removed > 0

    assert all((Path(lake) / "cloudfront" / p).exists() for p in old_paths)
    again = pl.from_arrow(reader.to_pyarrow_table())  # the reader opened before the compaction
    assert isinstance(again, pl.DataFrame)
    assert again.sort("source_file", "source_line").equals(expected.sort("source_file", "source_line"))
    reopened = pl.scan_delta(DeltaTable(uri, version=version)).collect()  # and a new reader of version N
    assert reopened.height == expected.height
    assert Lake(lake).open("cloudfront").version() > version  # type: ignore[union-attr]


def test_application_transaction_ids_survive_and_a_rerun_is_a_no_op(tmp_path: Path) -> None:
    src, lake = build_lake(tmp_path)
    objects = sorted(str(p) for p in src.rglob("*") if p.is_file())
    tables = ("cloudfront", "waf", "rejects", "manifest")

    def versions() -> dict[tuple[str, str], int | None]:
        return {(t, o): Lake(lake).committed_version(t, object_app_id(o)) for t in tables for o in objects}

    before = versions()
    assert sum(v == 1 for v in before.values()) >= 2 * len(objects)  # every object in manifest and rejects
    summary = _run(lake, older_than=timedelta(0))
    assert {t.table for t in summary.tables if t.files_removed} == {"cloudfront", "waf", "manifest"}
    assert versions() == before
    rerun = ingest([str(src)], lake)
    assert (rerun.skipped, rerun.objects) == (len(objects), 0)


def test_a_changed_object_reingested_after_compaction_replaces_its_old_rows(tmp_path: Path) -> None:
    src, lake = build_lake(tmp_path)
    changed = src / OLD_DAYS[1] / f"E1EXAMPLE.{OLD_DAYS[1]}-01.a1.gz"
    uri = str(changed)
    total_before = _rows(lake, "cloudfront").height
    assert _rows(lake, "cloudfront").filter(pl.col("source_file") == uri).height == RECORDS_PER_OBJECT
    cf = _run(lake, older_than=timedelta(0), tables=["cloudfront"]).tables[0]
    assert cf.files_removed > 0  # the object's rows now live in a merged file with other objects' rows

    new = [
        cf_record(date=OLD_DAYS[1], time="23:59:0" + str(i), sc_bytes=str(777_000 + i), x_edge_location="NEW1-P1")
        for i in range(2)
    ]
    write(changed, gz(w3c_text(CF_FIELDS_33, new).encode()))
    summary = ingest([str(src)], lake)
    assert (summary.objects, summary.skipped) == (1, len(list(src.rglob("*.gz"))) + 2 - 1)

    rows = _rows(lake, "cloudfront")
    mine = rows.filter(pl.col("source_file") == uri)
    assert mine.get_column("sc_bytes").to_list() == [777_000, 777_001]
    assert rows.height == total_before - RECORDS_PER_OBJECT + 2
    assert rows.filter(pl.col("x_edge_location") == "FRA1-P0").height == len(OLD_DAYS + YOUNG_DAYS) - 1
    manifest = _rows(lake, "manifest").filter(pl.col("object_uri") == uri).sort("generation")
    assert manifest.get_column("generation").to_list() == [1, 2]
    assert manifest.get_column("rows").to_list() == [RECORDS_PER_OBJECT, 2]


# --- vacuum ----------------------------------------------------------------------------------------
def test_vacuum_deletes_only_unreferenced_files_older_than_the_retention(lake: str) -> None:
    part = Path(lake) / "cloudfront" / f"dt={OLD_DAYS[0]}"
    some = next(part.glob("*.parquet"))
    stale = part / "part-crashed-worker-old.zstd.parquet"  # written by an ingest that died 10 days ago
    fresh = part / "part-ingest-in-flight.zstd.parquet"  # written by an ingest that has not committed yet
    shutil.copy(some, stale)
    shutil.copy(some, fresh)
    ten_days_ago = time.time() - 10 * 86_400
    os.utime(stale, (ten_days_ago, ten_days_ago))
    removed_by_compaction = _files(lake, "cloudfront")

    cf = _run(lake, tables=["cloudfront"]).tables[0]

    assert cf.vacuumed == 1
    assert not stale.exists()
    assert fresh.exists()
    assert all((Path(lake) / "cloudfront" / p).exists() for p in removed_by_compaction)  # removed < 7 d ago


# --- arguments and the command ---------------------------------------------------------------------
def test_durations_and_refusals(lake: str) -> None:
    assert parse_duration("2d") == timedelta(days=2)
    assert parse_duration("36h") == timedelta(hours=36)
    assert parse_duration("90m") == timedelta(minutes=90)
    assert parse_duration("1w") == timedelta(days=7)
    assert parse_duration("0") == timedelta(0)
    assert parse_duration("500ms") == timedelta(milliseconds=500)
    assert parse_duration("2") == timedelta(seconds=2)  # a bare number is seconds, for every option
    for bad in ("2x", "-1d", "", "d"):
        with pytest.raises(UsageError, match="not a duration"):
            parse_duration(bad)
    with pytest.raises(UsageError, match="at least 1h"):
        compact(lake, retention=timedelta(minutes=59))
    with pytest.raises(UsageError, match="unknown table"):
        compact(lake, tables=["cloudfrnot"])


def test_cli_compact_json_and_exit_codes(lake: str) -> None:
    proc = subprocess.run(
        [
            str(EDGELAKE),
            "compact",
            "--lake",
            lake,
            "--older-than",
            "0",
            "--table",
            "cloudfront",
            "--table",
            "manifest",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["retention_hours"] == 168
    assert out["cutoff"] == datetime.now(UTC).date().isoformat()
    assert set(out["tables"]) == {"cloudfront", "manifest"}
    cf = out["tables"]["cloudfront"]
    assert (
        cf["rows_before"]
        == cf["rows_after"]
        == len(OLD_DAYS + YOUNG_DAYS) * OBJECTS_PER_DAY * RECORDS_PER_OBJECT + RECORDS_PER_OBJECT - 1
    )
    assert cf["files_after"] == 4 and cf["files_before"] == 4 * OBJECTS_PER_DAY + 1
    assert {"bytes_before", "bytes_after", "seconds", "vacuumed"} <= set(cf)

    refused = subprocess.run(
        [str(EDGELAKE), "compact", "--lake", lake, "--retention", "10m"], capture_output=True, text=True, timeout=120
    )
    assert refused.returncode == 2
    assert "at least 1h" in refused.stderr


# --- on S3 -----------------------------------------------------------------------------------------
@pytest.mark.s3
def test_compaction_on_an_s3_lake(s3_env: Any) -> None:
    fs = s3_env.filesystem()
    bucket = s3_env.make_bucket("compact")
    sample = (SAMPLES / "aws-docs" / "EMLARXS9EXAMPLE.2019-11-14-20.RT4KCN4SGK9").read_bytes()
    for i in range(3):  # the same delivery under three names: three small files in each of its two days
        fs.pipe(f"{bucket}/logs/EMLARXS9EXAMPLE.2019-11-14-20.{i}.gz", gzip.compress(sample))
    lake_uri = f"s3://{s3_env.make_bucket('lake')}/lake"
    assert ingest([f"s3://{bucket}/logs/"], lake_uri).failed == 0
    uri = Lake(lake_uri).table_uri("cloudfront")
    version = Lake(lake_uri).open("cloudfront").version()  # type: ignore[union-attr]
    reader = DeltaTable(uri, version=version, storage_options=Lake(lake_uri).storage_options)
    before = _rows(lake_uri, "cloudfront")

    cf = compact(lake_uri, older_than=timedelta(0), tables=["cloudfront"]).tables[0]

    assert (cf.files_before, cf.files_after, cf.rows_before, cf.rows_after) == (6, 2, before.height, before.height)
    assert _rows(lake_uri, "cloudfront").equals(before)
    assert reader.to_pyarrow_table().num_rows == before.height


def test_compacted_partitions_hold_their_rows_in_time_order(lake: str) -> None:
    # Ingested files interleave in time (here: three objects per day, each its own hour); a merged
    # partition is sorted, so file and row-group statistics can prune a time window inside a day.
    _run(lake, tables=["cloudfront", "waf"])
    for table in ("cloudfront", "waf"):
        dt = Lake(lake).open(table)
        assert dt is not None
        for uri in dt.file_uris():
            if not any(f"dt={day}/" in uri for day in OLD_DAYS) and table == "cloudfront":
                continue
            stamps = pl.read_parquet(uri, columns=["timestamp"]).get_column("timestamp")
            assert stamps.is_sorted(), uri
    merged = [u for u in _files(lake, "cloudfront") if u.startswith(f"dt={OLD_DAYS[0]}/")]
    stamps = pl.read_parquet(Path(lake) / "cloudfront" / merged[0], columns=["timestamp"]).get_column("timestamp")
    assert stamps.dt.hour().unique().sort().to_list() == [0, 1, 2, 9]  # every object's hour, in order
