"""The statements that register the lake's tables in Athena/Glue, Trino and Spark.

None of these engines needs a column list: each reads a Delta table's schema, partitions and files from
its ``_delta_log`` at query time, so registering a table is giving it a name and a location, and a table
registered once follows every later commit by itself. What differs is the statement and its dialect:

- Athena (engine version 3) and the Glue Data Catalog: ``CREATE EXTERNAL TABLE ... LOCATION ...
  TBLPROPERTIES ('table_type' = 'DELTA')`` and nothing else (Athena refuses any other clause or property
  for a Delta table), after ``CREATE DATABASE IF NOT EXISTS``;
- Trino's Delta Lake connector: ``CALL <catalog>.system.register_table(...)``, a procedure each catalog
  must enable (``delta.register-table-procedure.enabled=true``);
- Spark with delta-spark: ``CREATE TABLE ... USING DELTA LOCATION 's3a://...'``; open-source Hadoop
  reaches S3 through the S3A connector, hence the scheme.

:func:`registration` checks the user's options, refuses a local lake without ``--location`` (no engine
reads this machine's disk), runs the preflight and renders; :func:`render` is the pure part.

Must not: print or set exit codes (the CLI does), or quote anything itself (see :mod:`.quoting`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pipeline.engines.preflight import READER_FLOOR, WRITER_FLOOR, Report, preflight
from pipeline.engines.quoting import ATHENA, SPARK, TRINO, S3Location, check_name
from pipeline.errors import LakeError, UsageError
from pipeline.lake import Lake

ENGINES = ("athena", "trino", "spark")


@dataclass(frozen=True)
class Registration:
    """The preflight's report, and the DDL to print when it passed."""

    engine: str
    report: Report
    ddl: str


def registration(
    engine: str,
    lake_uri: str,
    *,
    location: str | None = None,
    database: str = "edgelake",
    trino_catalog: str = "delta",
) -> Registration:
    """Check the options, run the preflight over the lake at ``lake_uri`` and render ``engine``'s DDL.

    Usage errors (an unknown engine, a name or location that cannot be written portably, a local lake
    without ``location``) are raised before the lake is read. The DDL is rendered whatever the preflight
    found; the caller decides whether to print it.
    """
    if engine not in ENGINES:
        raise UsageError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
    check_name(database, "--database")
    check_name(trino_catalog, "--trino-catalog")
    lake = Lake(lake_uri)
    if location is not None:
        root = S3Location.parse(location, "--location")
    elif lake.is_s3:
        root = S3Location.parse(lake.uri, "--lake")
    else:
        raise UsageError(
            f"the lake {lake.uri} is on this machine's disk, which Athena, Trino and Spark cannot read: copy it "
            "to S3 (e.g. aws s3 sync LAKE s3://bucket/prefix) and pass --location s3://bucket/prefix"
        )
    report = preflight(lake)
    if not report.tables:
        raise LakeError(f"no edgelake table in {lake.uri}: nothing to register (ingest something first)")
    ddl = render(engine, report.tables, root, database=database, trino_catalog=trino_catalog)
    return Registration(engine, report, ddl)


def render(
    engine: str, tables: Sequence[str], root: S3Location, *, database: str = "edgelake", trino_catalog: str = "delta"
) -> str:
    """``engine``'s statements registering ``tables`` under ``root`` in ``database``.

    The header says the preflight passed: print the text only when it did (as :func:`registration`'s
    caller does).
    """
    check_name(database, "--database")
    check_name(trino_catalog, "--trino-catalog")
    for t in tables:
        check_name(t, "table")  # ours (schemas/*.toml), but a name is checked before it is written
    head = [
        f"-- The {len(tables)} tables of the edgelake lake at {root}, as Delta Lake tables.",
        f"-- Preflight passed: Delta protocol reader {READER_FLOOR} / writer {WRITER_FLOOR} without table "
        "features, no unsigned integers,",
        "-- timestamps stored as INT64 microseconds in UTC, lower-case column names, partition columns Athena accepts.",
        "-- Each engine reads columns, types and partitions from the table's Delta log at query time: nothing",
        "-- here changes when the lake gains rows, partitions or columns.",
    ]
    if engine == "athena":
        body = _athena(tables, root, database)
    elif engine == "trino":
        body = _trino(tables, root, database, trino_catalog)
    elif engine == "spark":
        body = _spark(tables, root, database)
    else:
        raise UsageError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
    return "\n".join([*head, *body]) + "\n"


def _athena(tables: Sequence[str], root: S3Location, database: str) -> list[str]:
    q = ATHENA
    out = [
        "--",
        "-- Amazon Athena (engine version 3) with the AWS Glue Data Catalog. A Delta table's CREATE statement",
        "-- takes LOCATION and table_type only. Athena runs one statement per query: run them one at a time.",
        "",
        f"CREATE DATABASE IF NOT EXISTS {q.ident(database)};",
    ]
    for t in tables:
        out += [
            "",
            f"CREATE EXTERNAL TABLE IF NOT EXISTS {q.ident(database)}.{q.ident(t)}",
            f"LOCATION {q.literal(root.table(t) + '/')}",
            f"TBLPROPERTIES ({q.literal('table_type')} = {q.literal('DELTA')});",
        ]
    return out


def _trino(tables: Sequence[str], root: S3Location, database: str, catalog: str) -> list[str]:
    q = TRINO
    out = [
        "--",
        f"-- Trino, Delta Lake connector, catalog {catalog}. register_table is off by default: the catalog's",
        "-- properties file needs delta.register-table-procedure.enabled=true.",
        "-- Trino reads Delta timestamps as timestamp(3) with time zone: millisecond precision, the",
        "-- microseconds in the files are cut (two requests in the same millisecond compare equal there).",
        "-- register_table refuses a name already registered; system.unregister_table removes one.",
        "",
        f"CREATE SCHEMA IF NOT EXISTS {q.ident(catalog)}.{q.ident(database)};",
    ]
    for t in tables:
        out += [
            "",
            f"CALL {q.ident(catalog)}.system.register_table(",
            f"  schema_name => {q.literal(database)},",
            f"  table_name => {q.literal(t)},",
            f"  table_location => {q.literal(root.table(t))});",
        ]
    return out


def _spark(tables: Sequence[str], root: S3Location, database: str) -> list[str]:
    q = SPARK
    out = [
        "--",
        "-- Apache Spark with delta-spark (the release matching the Spark version) and a Hive metastore or Glue.",
        "-- The session needs delta-spark's extensions:",
        "--   spark.sql.extensions=io.delta.sql.DeltaSparkSessionExtension",
        "--   spark.sql.catalog.spark_catalog=org.apache.spark.sql.delta.catalog.DeltaCatalog",
        "-- Open-source Hadoop reads S3 through the S3A connector (hadoop-aws, fs.s3a.* settings), hence",
        "-- s3a:// locations; EMR and Databricks read them too.",
        "",
        f"CREATE DATABASE IF NOT EXISTS {q.ident(database)};",
    ]
    for t in tables:
        out += [
            "",
            f"CREATE TABLE IF NOT EXISTS {q.ident(database)}.{q.ident(t)}",
            f"USING DELTA LOCATION {q.literal(root.table(t, scheme='s3a'))};",
        ]
    return out
