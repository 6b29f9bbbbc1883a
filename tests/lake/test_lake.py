"""The lake contract: Delta tables, schema growth, idempotent re-runs, config replacement, catalog views."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable
from helpers import SAMPLES

from pipeline.errors import QueryError
from pipeline.ingest import IngestOptions, ingest
from pipeline.ingest.unit import object_app_id
from pipeline.lake import Lake
from pipeline.lake.table import STATS_COLUMNS
from pipeline.query.views import connect, query
from pipeline.schemas import Schema
from pipeline.schemas import load as load_schema

DOCS = SAMPLES / "aws-docs"
LEGACY_33 = DOCS / "EMLARXS9EXAMPLE.2019-11-14-20.RT4KCN4SGK9"
LEGACY_24 = DOCS / "EMLARXS9EXAMPLE.2014-11-14-20.RT4KCN4SGK9"


def _count(lake: str, table: str) -> int:
    return int(query(connect(lake), f"SELECT count(*) AS n FROM {table}").column("n")[0].as_py())


def test_tables_are_delta_partitioned_by_request_date(tmp_path: Path) -> None:
    lake = str(tmp_path / "lake")
    summary = ingest([str(LEGACY_33)], lake)
    assert summary.rows["cloudfront"] == 6 and summary.rejects == 0
    dt = DeltaTable(f"{lake}/cloudfront")
    assert dt.metadata().partition_columns == ["dt"]
    # the object is named hour 2019-11-14-20 but its requests happened on 2019-12-04 and 2019-12-13
    parts = sorted(p.name for p in (tmp_path / "lake" / "cloudfront").glob("dt=*"))
    assert parts == ["dt=2019-12-04", "dt=2019-12-13"]
    txn = dt.transaction_version(object_app_id(str(LEGACY_33)))
    assert txn == 1


def test_rerun_adds_nothing_and_changed_object_replaces_its_rows(tmp_path: Path) -> None:
    lake = str(tmp_path / "lake")
    src = tmp_path / "in" / LEGACY_33.name
    src.parent.mkdir()
    shutil.copy(LEGACY_33, src)
    first = ingest([str(src)], lake)
    again = ingest([str(src)], lake)
    assert (first.objects, again.objects, again.skipped) == (1, 0, 1)
    assert _count(lake, "cloudfront") == 6
    # the object changes (a re-delivery with one line fewer): its old rows go, the new ones come
    lines = src.read_text().splitlines(keepends=True)
    src.write_text("".join(lines[:-1]))
    changed = ingest([str(src)], lake)
    assert changed.objects == 1 and changed.rows["cloudfront"] == 5
    assert _count(lake, "cloudfront") == 5
    gens = pl.scan_delta(f"{lake}/manifest").select("generation").collect().to_series().to_list()
    assert sorted(gens) == [1, 2]


def test_schema_grows_for_unknown_fields_and_mixed_field_sets(tmp_path: Path) -> None:
    lake = str(tmp_path / "lake")
    newer = tmp_path / "E1NEWFIELD12.2024-01-01-00.abc"
    newer.write_text(
        "#Version: 1.0\n#Fields: date time sc-status cs-uri-stem x-brand-new\n2024-01-01\t00:00:01\t200\t/a\tvalue-1\n"
    )
    ingest([str(LEGACY_24), str(newer)], lake)
    frame = Lake(lake).scan("cloudfront").collect()
    assert "x_brand_new" in frame.columns
    assert frame.filter(pl.col("x_brand_new") == "value-1").height == 1
    # 24-field rows have no c_port; their protocol version is there
    old = frame.filter(pl.col("distribution_id") == "EMLARXS9EXAMPLE")
    assert old.height == 2 and old.get_column("c_port").null_count() == 2
    assert old.get_column("cs_protocol_version").to_list() == ["HTTP/1.1", "HTTP/1.1"]


def test_distribution_config_replaces_previous_version(tmp_path: Path) -> None:
    lake = str(tmp_path / "lake")
    src = SAMPLES / "distribution" / "E2EXAMPLE1.get-distribution.json"
    ingest([str(src)], lake)
    before = _count(lake, "behaviors")
    doc = json.loads(src.read_text())
    items = doc["Distribution"]["DistributionConfig"]["CacheBehaviors"]
    items["Items"] = items["Items"][:1]
    items["Quantity"] = 1
    newer = tmp_path / "newer.json"
    newer.write_text(json.dumps(doc))
    ingest([str(newer)], lake)
    assert before > 2
    assert _count(lake, "behaviors") == 2  # one path pattern + the default


def test_catalog_is_read_only_and_binds_parameters(tmp_path: Path) -> None:
    lake = str(tmp_path / "lake")
    ingest([str(LEGACY_33)], lake)
    con = connect(lake)
    hostile = "x' OR '1'='1"
    res = con.sql("SELECT count(*) FROM cloudfront WHERE cs_uri_stem = $u", params={"u": hostile}).fetchall()
    assert res == [(0,)]
    for statement in (
        "DELETE FROM cloudfront",
        "CREATE TABLE t AS SELECT 1",
        "COPY cloudfront TO 'x.csv'",
        "ATTACH 'other.db'",
    ):
        with pytest.raises(QueryError, match="only queries"):
            query(con, statement)
    with pytest.raises(QueryError):
        query(con, "SELECT * FROM read_csv('/etc/passwd')")


def test_empty_lake_has_every_view(tmp_path: Path) -> None:
    (tmp_path / "nothing-here").mkdir()  # a lake nothing was ingested into (a missing directory is an error)
    con = connect(str(tmp_path / "nothing-here"))
    for table in ("cloudfront", "realtime", "waf", "rejects", "manifest", "behaviors", "origin_groups"):
        assert con.sql(f"SELECT count(*) FROM {table}").fetchall() == [(0,)]


def test_polars_and_duckdb_read_the_same_rows(tmp_path: Path) -> None:
    lake = str(tmp_path / "lake")
    ingest([str(LEGACY_33), str(LEGACY_24)], lake, IngestOptions(source="cloudfront"))
    cols = ["source_file", "source_line", "timestamp", "sc_status", "cs_user_agent", "sc_bytes"]
    via_polars = Lake(lake).scan("cloudfront").select(cols).sort(["source_file", "source_line"]).collect()
    via_duck = pl.from_arrow(
        query(connect(lake), f"SELECT {', '.join(cols)} FROM cloudfront ORDER BY source_file, source_line")
    )
    assert isinstance(via_duck, pl.DataFrame)
    assert via_polars.equals(via_duck)


def _every_flat_column(schema: Schema) -> tuple[str, ...]:
    return tuple(
        c.name for c in schema.columns if c.name not in schema.partition_by and not pa.types.is_nested(c.arrow_type)
    )


def test_filters_on_any_column_find_every_row(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """File statistics only where the schema asks for them, and filters on every column still right.

    The first file goes in as an older edgelake wrote it (statistics for every flat column, no
    ``delta.dataSkippingStatsColumns``); the next commit must name the columns before adding files
    without statistics for the others, or delta-rs' dataset (DuckDB's path) would skip those files.
    """
    lake = str(tmp_path / "lake")
    with monkeypatch.context() as old:
        old.setattr(Lake, "_properties", staticmethod(lambda schema: {}))
        old.setattr(Schema, "stats_columns", property(_every_flat_column))
        ingest([str(LEGACY_24)], lake)
    assert STATS_COLUMNS not in DeltaTable(f"{lake}/cloudfront").metadata().configuration
    ingest([str(LEGACY_33)], lake)
    declared = load_schema("cloudfront").stats_columns
    assert DeltaTable(f"{lake}/cloudfront").metadata().configuration[STATS_COLUMNS] == ",".join(declared)
    assert "timestamp" in declared and "sc_status" in declared
    assert not {"x_edge_request_id", "cs_user_agent", "time", "c_port"} & set(declared)
    rows = Lake(lake).scan("cloudfront").collect()
    con = connect(lake)
    probes: list[tuple[str, object]] = [("x_edge_location", "LAX1"), ("sc_status", 502)]
    for source in (LEGACY_24, LEGACY_33):
        row = rows.filter(pl.col("source_file") == str(source)).row(0, named=True)
        probes += [(c, row[c]) for c in ("x_edge_request_id", "cs_user_agent", "time", "c_ip") if row[c] is not None]
    for column, value in probes:
        expected = rows.filter(pl.col(column) == value).height
        assert expected > 0, (column, value)
        via_duck = con.execute(f"SELECT count(*) FROM cloudfront WHERE {column} = ?", [value]).fetchall()
        assert via_duck == [(expected,)], (column, value)
        assert Lake(lake).scan("cloudfront").filter(pl.col(column) == value).collect().height == expected
    assert con.sql("SELECT count(*) FROM manifest WHERE generation = 1").fetchall() == [(2,)]


def test_parquet_files_follow_the_schema_storage_choices(tmp_path: Path) -> None:
    lake = str(tmp_path / "lake")
    ingest([str(LEGACY_33)], lake)
    dt = DeltaTable(f"{lake}/cloudfront")
    meta = pq.read_metadata(f"{lake}/cloudfront/{dt.file_uris()[0].split('/cloudfront/', 1)[1]}")
    chunks = {meta.row_group(0).column(i).path_in_schema: meta.row_group(0).column(i) for i in range(meta.num_columns)}
    schema = load_schema("cloudfront")
    for name, chunk in chunks.items():
        col = schema.by_name[name]
        assert chunk.is_stats_set == col.stats, name
        assert ("RLE_DICTIONARY" in chunk.encodings) == col.dictionary, name
