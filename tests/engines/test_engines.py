"""Registering the lake in Athena/Glue, Trino and Spark: golden DDL, its syntax, the preflight, quoting.

No engine runs here, so the DDL is held to golden files (``tests/expected/ddl/``, for a lake built from
every sample in ``data/samples``) and each file is parsed by sqlglot in its engine's dialect; a statement
sqlglot could only keep as an opaque command counts as a syntax error. The preflight is run on that lake
(it passes) and on tables drifted the ways other writers drift them (it fails, naming table and column).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlglot
from deltalake import DeltaTable, write_deltalake
from deltalake.transaction import AddAction
from helpers import EXPECTED, REALTIME, SAMPLES
from s3server import S3Server
from sqlglot import exp
from typer.testing import CliRunner

from pipeline import schemas
from pipeline.cli import app
from pipeline.compact import compact
from pipeline.engines import ATHENA, SPARK, TRINO, Dialect, S3Location, preflight, registration, render
from pipeline.engines.preflight import sample_files
from pipeline.errors import UsageError
from pipeline.follow import FollowOptions, follow
from pipeline.ingest import IngestOptions, ingest
from pipeline.lake import Lake
from pipeline.readers.realtime import load_fields

GOLDEN = EXPECTED / "ddl"
LOCATION = "s3://example-bucket/edgelake"
# sqlglot's dialect for each printed file; Trino's statements are also read as Presto's (its ancestor)
DIALECTS = {"athena": ("athena",), "trino": ("trino", "presto"), "spark": ("spark",)}


def catalog(*args: str) -> Any:
    return CliRunner().invoke(app, ["catalog", *args])


@pytest.fixture(scope="module")
def samples_lake(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Every sample: real-time records through the follower (realtime, rollup_minute), the distribution
    config that needs its id, then the whole samples tree (the rest; bad inputs become rejects)."""
    lake = str(tmp_path_factory.mktemp("engines") / "lake")
    fields = load_fields(str(REALTIME / "realtime-config.json"))
    follow(str(REALTIME / "2023"), lake, FollowOptions(realtime_fields=fields, distribution_id="E2EXAMPLE1", once=True))
    config = SAMPLES / "distribution" / "E3EXAMPLE2.get-distribution-config.json"
    ingest([str(config)], lake, IngestOptions(distribution_id="E3EXAMPLE2", workers=1))
    ingest([str(SAMPLES)], lake, IngestOptions(workers=1))
    return lake


# --- the samples lake: preflight and golden DDL ----------------------------------------------------------
def test_preflight_passes_on_the_samples_lake(samples_lake: str) -> None:
    report = preflight(Lake(samples_lake))
    assert report.tables == schemas.table_names()  # every table exists, so every table was checked
    assert report.findings == [] and report.ok
    assert report.files_read >= len(report.tables)  # at least one footer of each table was read


def test_compacted_files_still_meet_the_floor(samples_lake: str, tmp_path: Path) -> None:
    """Compaction rewrites files with delta-rs' own Parquet writer (parquet-rs), not pyarrow's: its files
    are checked too."""
    lake = str(tmp_path / "lake")
    shutil.copytree(samples_lake, lake)
    compact(lake, older_than=timedelta(0), tables=["cloudfront"], retention=timedelta(hours=1))
    report = preflight(Lake(lake))
    assert report.ok, report.findings
    dt = Lake(lake).open("cloudfront")
    writers = {pq.read_metadata(f"{lake}/cloudfront/{p}").created_by.split(" ")[0] for p in sample_files(dt, 8)}
    assert "parquet-rs" in writers  # the preflight's sample holds the compacted files


@pytest.mark.parametrize("engine", sorted(DIALECTS))
def test_ddl_equals_the_golden_file(samples_lake: str, engine: str) -> None:
    res = catalog(engine, "--lake", samples_lake, "--location", LOCATION)
    assert res.exit_code == 0, res.stderr
    golden = GOLDEN / f"{engine}.sql"
    if os.environ.get("EDGELAKE_UPDATE_GOLDEN"):
        golden.write_text(res.stdout, encoding="utf-8")
    assert res.stdout == golden.read_text(encoding="utf-8"), (
        f"{golden} differs from the printed DDL; if the change is meant, rerun with EDGELAKE_UPDATE_GOLDEN=1"
    )


def _statements(engine: str, dialect: str) -> list[Any]:
    text = (GOLDEN / f"{engine}.sql").read_text(encoding="utf-8")
    parsed = [e for e in sqlglot.parse(text, read=dialect) if e is not None]
    return parsed


@pytest.mark.parametrize(("engine", "dialect"), [(e, d) for e, ds in DIALECTS.items() for d in ds])
def test_golden_ddl_parses_in_its_dialect(engine: str, dialect: str) -> None:
    tables = schemas.table_names()
    statements = _statements(engine, dialect)
    assert len(statements) == 1 + len(tables)
    first, rest = statements[0], statements[1:]
    assert isinstance(first, exp.Create) and first.args.get("exists") is True
    assert first.kind == ("SCHEMA" if engine == "trino" else "DATABASE")
    if engine == "trino":
        calls = [_trino_call(s, dialect) for s in rest]
        assert calls == [
            {"schema_name": "edgelake", "table_name": t, "table_location": f"{LOCATION}/{t}"} for t in tables
        ]
        return
    assert all(isinstance(s, exp.Create) and s.kind == "TABLE" and s.args.get("exists") for s in rest)
    assert [(s.this.db, s.this.name) for s in rest] == [("edgelake", t) for t in tables]
    locations = [s.find(exp.LocationProperty).this.this for s in rest]
    if engine == "athena":
        assert locations == [f"{LOCATION}/{t}/" for t in tables]
        # EXTERNAL, LOCATION and table_type = DELTA, and nothing else: Athena refuses more for a Delta table
        kinds = [[type(p).__name__ for p in s.args["properties"].expressions] for s in rest]
        assert kinds == [["ExternalProperty", "LocationProperty", "Property"]] * len(tables)
        props = [s.args["properties"].expressions[-1] for s in rest]
        assert {(p.this.this, p.args["value"].this) for p in props} == {("table_type", "DELTA")}
    else:
        assert locations == [f"s3a://example-bucket/edgelake/{t}" for t in tables]
        assert all(s.find(exp.FileFormatProperty).this.name == "DELTA" for s in rest)


def _trino_call(statement: exp.Expression, dialect: str) -> dict[str, str]:
    """sqlglot keeps CALL as an opaque command: parse its procedure call as an expression instead."""
    assert isinstance(statement, exp.Command) and statement.this == "CALL"
    call = sqlglot.parse_one(f"SELECT {statement.expression.this}", read=dialect)
    path = call.expressions[0]
    assert path.sql(dialect).startswith('"delta".system.register_table(')
    fn = path.find(exp.Anonymous)
    assert fn is not None and fn.name == "register_table"
    return {kw.this.name: kw.expression.this for kw in fn.expressions}


def test_the_parse_has_teeth() -> None:
    """A broken statement fails the parse (or is left as an opaque command, which the tests refuse)."""
    with pytest.raises(sqlglot.errors.TokenError):
        sqlglot.parse("CREATE EXTERNAL TABLE `d`.`t` LOCATION 's3://b/t TBLPROPERTIES ('table_type'='DELTA')", "athena")
    typo = sqlglot.parse_one("CREATE EXTERNAL TABLE `d`.`t` LOCATON 's3://b/t' TBLPROPERTIES ('a'='b')", "athena")
    assert not isinstance(typo, exp.Create)


def test_printed_notes_name_what_each_engine_needs() -> None:
    root = S3Location.parse(LOCATION, "--location")
    trino = render("trino", ["waf"], root)
    assert "delta.register-table-procedure.enabled=true" in trino and "timestamp(3) with time zone" in trino
    spark = render("spark", ["waf"], root)
    assert "spark.sql.extensions=io.delta.sql.DeltaSparkSessionExtension" in spark
    assert "spark.sql.catalog.spark_catalog=org.apache.spark.sql.delta.catalog.DeltaCatalog" in spark
    assert "LOCATION 's3a://example-bucket/edgelake/waf'" in spark
    assert "'table_type' = 'DELTA'" in render("athena", ["waf"], root)
    assert "`analytics`.`waf`" in render("athena", ["waf"], root, database="analytics")
    assert 'CALL "lake".system' in render("trino", ["waf"], root, trino_catalog="lake")


# --- drifted tables: the preflight fails, naming table, column and what to do ----------------------------
def _add_file(table_uri: str, data: pa.Table, **options: Any) -> None:
    """Commit one Parquet file written by pyarrow with ``options``: a writer that does not follow the schema."""
    dt = DeltaTable(table_uri)
    name = f"part-drift-{time.monotonic_ns()}.parquet"
    pq.write_table(data, f"{table_uri}/{name}", **options)
    stats = json.dumps({"numRecords": data.num_rows})
    add = AddAction(name, os.path.getsize(f"{table_uri}/{name}"), {}, int(time.time() * 1000), True, stats)
    dt.create_write_transaction([add], mode="append", schema=pa.schema(dt.schema().to_arrow()))


def _rejects_row(**overrides: Any) -> dict[str, Any]:
    from datetime import UTC, datetime

    row = dict(
        source="cloudfront",
        source_file="/logs/a.gz",
        source_line=1,
        reason_code="field_count",
        reason="3 fields",
        raw="x",
        ingested_at=datetime(2025, 3, 14, tzinfo=UTC),
    )
    return {**row, **overrides}


def _rejects_frame() -> pl.DataFrame:
    frame = pl.from_arrow(pa.Table.from_pylist([_rejects_row()], schema=schemas.load("rejects").arrow_schema()))
    assert isinstance(frame, pl.DataFrame)
    return frame


def _messages(lake: str, **kwargs: Any) -> list[str]:
    return [str(f) for f in preflight(Lake(lake), **kwargs).findings]


def test_a_table_feature_fails_the_preflight_and_the_command(tmp_path: Path) -> None:
    lake = str(tmp_path / "lake")
    write_deltalake(
        f"{lake}/rejects", pa.table({"source": ["cloudfront"]}), configuration={"delta.enableDeletionVectors": "true"}
    )
    [message] = _messages(lake)
    assert message.startswith("rejects: its Delta protocol is reader 3 / writer 7 with the table features")
    assert "deletionVectors" in message and "reader 1 / writer 2 without table features" in message
    assert "DROP FEATURE" in message  # what to do
    res = catalog("athena", "--lake", lake, "--location", LOCATION)
    assert res.exit_code == 1 and res.stdout == ""
    assert "edgelake: rejects: its Delta protocol is reader 3 / writer 7" in res.stderr
    assert "preflight failed: 1 problem(s) in 1 table(s); no DDL printed" in res.stderr


def test_unsigned_and_nanosecond_files_fail_the_preflight(tmp_path: Path) -> None:
    """deltalake's own writer casts uint32 to a signed type, so the drift is made the way edgelake's writer
    (pyarrow files + Delta add actions) would make it if a frame reached it with the wrong types."""
    lake = Lake(str(tmp_path / "lake"))
    good = _rejects_frame()
    lake.append_rows("rejects", good)
    assert _messages(lake.uri) == []
    drifted = good.with_columns(
        pl.col("source_line").cast(pl.UInt32), pl.col("ingested_at").dt.cast_time_unit("ns")
    ).to_arrow()
    _add_file(lake.table_uri("rejects"), drifted)
    messages = _messages(lake.uri)
    assert len(messages) == 2
    unsigned = next(m for m in messages if "source_line" in m)
    assert unsigned.startswith("rejects, column source_line: a data file stores it as an unsigned 32-bit integer")
    assert "part-drift-" in unsigned and "parquet-cpp-arrow" in unsigned  # which file, which writer
    assert "cast to the signed type the schema declares" in unsigned
    nanos = next(m for m in messages if "ingested_at" in m)
    assert "a data file stores it as a timestamp in nanoseconds, adjusted to UTC (part-drift-" in nanos
    assert "The floor is INT64 microseconds adjusted to UTC" in nanos


def test_int96_and_mistyped_files_fail_the_preflight(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    good = _rejects_frame()
    lake.append_rows("rejects", good)
    _add_file(lake.table_uri("rejects"), good.to_arrow(), use_deprecated_int96_timestamps=True)
    _add_file(lake.table_uri("rejects"), good.with_columns(pl.col("source_line").cast(pl.Int32)).to_arrow())
    messages = _messages(lake.uri)
    assert len(messages) == 2
    assert any(m.startswith("rejects, column ingested_at: a data file stores it as INT96") for m in messages)
    assert any(
        m.startswith("rejects, column source_line: a data file stores it as int32 where the Delta schema says int64")
        for m in messages
    )


def test_the_sample_always_holds_the_newest_file(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    good = _rejects_frame()
    for _ in range(3):
        lake.append_rows("rejects", good)
    _add_file(lake.table_uri("rejects"), good.with_columns(pl.col("source_line").cast(pl.UInt64)).to_arrow())
    for sample in (1, 2):
        report = preflight(lake, sample=sample)
        assert report.files_read == sample
        assert [f.column for f in report.findings] == ["source_line"]


def test_names_ntz_timestamps_and_partition_types(tmp_path: Path) -> None:
    lake = str(tmp_path / "lake")
    naive = pa.array([0], pa.timestamp("us"))
    write_deltalake(f"{lake}/rejects", pa.table({"Raw": ["x"], "seen": naive, "n": [1]}))
    write_deltalake(
        f"{lake}/manifest", pa.table({"key": pa.array([b"k"], pa.binary()), "n": [1]}), partition_by=["key"]
    )
    messages = _messages(lake)
    assert "manifest, column key: it partitions the table but its type (binary) is not one Athena accepts" in (
        "\n".join(messages)
    )
    assert any(m.startswith("rejects, column Raw: the name 'Raw' is not lower-case letters") for m in messages)
    assert any(m.startswith("rejects, column seen: its type is timestamp_ntz") for m in messages)
    assert any(m.startswith("rejects: its Delta protocol is reader 3 / writer 7") for m in messages)  # timestampNtz


# --- quoting: hostile values round-trip in every dialect, or are refused ---------------------------------
HOSTILE = ["x'; DROP TABLE t; --", "a\\'b", "a\\", "\\\\'", "''", 'quo"te', "tick`s", "a--b/*c*/", "é/ü/日本"]


@pytest.mark.parametrize("value", HOSTILE)
def test_literals_read_back_exactly_in_each_dialect(value: str) -> None:
    athena = sqlglot.parse(
        f"CREATE EXTERNAL TABLE `d`.`t` LOCATION {ATHENA.literal(value)} TBLPROPERTIES ('table_type' = 'DELTA')",
        "athena",
    )
    assert len(athena) == 1 and athena[0].find(exp.LocationProperty).this.this == value  # type: ignore[union-attr]
    spark = sqlglot.parse(f"CREATE TABLE IF NOT EXISTS `d`.`t` USING DELTA LOCATION {SPARK.literal(value)}", "spark")
    assert len(spark) == 1 and spark[0].find(exp.LocationProperty).this.this == value  # type: ignore[union-attr]
    for dialect in DIALECTS["trino"]:
        call = sqlglot.parse(f"SELECT f(table_location => {TRINO.literal(value)})", dialect)
        assert len(call) == 1 and call[0].find(exp.Kwarg).expression.this == value  # type: ignore[union-attr]


@pytest.mark.parametrize(("dialect", "read"), [(ATHENA, "athena"), (SPARK, "spark"), (TRINO, "trino")])
@pytest.mark.parametrize("name", ["edgelake", "x; DROP DATABASE y", 'quo"te', "tick`s", "sp ace"])
def test_identifiers_read_back_exactly_in_each_dialect(dialect: Dialect, read: str, name: str) -> None:
    [tree] = sqlglot.parse(f"CREATE SCHEMA IF NOT EXISTS {dialect.ident(name)}", read)
    assert isinstance(tree, exp.Create) and tree.this.db == name


def test_control_characters_are_refused() -> None:
    for dialect in (ATHENA, TRINO, SPARK):
        with pytest.raises(UsageError, match="control character"):
            dialect.literal("s3://b/x\n; DROP TABLE t")
        with pytest.raises(UsageError, match="control character"):
            dialect.ident("a\x00b")


@pytest.mark.parametrize(
    ("option", "value", "said"),
    [
        ("--location", "s3://example-bucket/x'; DROP TABLE t; --", "is not portable"),
        ("--location", "s3://example-bucket/a\\b", "is not portable"),
        ("--location", "s3://example-bucket/a//b", "is not portable"),
        ("--location", "s3://example-bucket/../up", "is not portable"),
        ("--location", "s3://Bad_Bucket/x", "is not an S3 bucket name"),
        ("--location", "https://example-bucket.s3.amazonaws.com/x", "is not an S3 location"),
        ("--location", "s3://example-bucket/x\ny", "control character"),
        ("--database", "x`; DROP DATABASE y; --", "is not a portable name"),
        ("--database", "EdgeLake", "is not a portable name"),
        ("--trino-catalog", 'delta"; --', "is not a portable name"),
    ],
)
def test_hostile_options_are_refused_before_anything_is_printed(
    samples_lake: str, option: str, value: str, said: str
) -> None:
    args = ["--location", LOCATION, option, value] if option != "--location" else [option, value]
    res = catalog("trino", "--lake", samples_lake, *args)
    assert res.exit_code == 2 and res.stdout == ""
    assert res.stderr.startswith("edgelake: error: ") and said in res.stderr and "Traceback" not in res.stderr


def test_a_local_lake_needs_a_location_and_a_lake_needs_tables(samples_lake: str, tmp_path: Path) -> None:
    res = catalog("athena", "--lake", samples_lake)
    assert res.exit_code == 2 and res.stdout == ""
    assert "on this machine's disk" in res.stderr and "--location s3://bucket/prefix" in res.stderr
    res = catalog("athena", "--lake", str(tmp_path / "empty"), "--location", LOCATION)
    assert res.exit_code == 2 and "no edgelake table" in res.stderr
    res = catalog("bigquery", "--lake", samples_lake, "--location", LOCATION)
    assert res.exit_code == 2 and "choose one of athena, trino, spark" in res.stderr


def test_locations_are_normalised() -> None:
    assert S3Location.parse("s3a://example-bucket/a/b/", "--location") == S3Location("example-bucket", "a/b")
    assert S3Location.parse("s3://example-bucket", "--location").table("waf") == "s3://example-bucket/waf"
    assert S3Location.parse("s3://ex.ample-1/dt=x/~v@2,3", "--location").table("waf", "s3a") == (
        "s3a://ex.ample-1/dt=x/~v@2,3/waf"
    )


# --- a lake on S3: its own URI is the default location, footers are read over S3 -------------------------
@pytest.mark.s3
def test_a_lake_on_s3_registers_at_its_own_uri(s3_env: S3Server) -> None:
    bucket = s3_env.make_bucket("engines")
    lake = f"s3://{bucket}/lakes/main"
    ingest([str(SAMPLES / "aws-docs" / "v2-example.json")], lake, IngestOptions(workers=1))
    reg = registration("spark", lake, database="edge")
    assert reg.report.ok and reg.report.tables == ["cloudfront", "manifest", "rejects"]
    assert reg.report.files_read >= 3  # footers read over S3
    location = f"USING DELTA LOCATION 's3a://{bucket}/lakes/main/cloudfront';"
    assert f"CREATE TABLE IF NOT EXISTS `edge`.`cloudfront`\n{location}" in reg.ddl
