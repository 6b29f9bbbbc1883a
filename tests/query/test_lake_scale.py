"""The mechanisms that make analyses fast at lake scale, each asserted as a fact on small data.

Speed itself is measured in ``bench/analyses.py``; here: DuckDB's own Parquet reader over the Delta
snapshot returns exactly the rows and types of the Arrow dataset; a lazy connection opens only the
tables a statement names; a one-hour window over several days opens one day's files and scans only
the row groups of that hour after compaction; path patterns matched without a regular expression
(GLOB in DuckDB, prefix/suffix tests in Polars) mean exactly what their regular expression means.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest
from helpers import CF_FIELDS_33, SAMPLES, cf_record, gz, w3c_text, write

from pipeline.analyses.requests import pattern_test
from pipeline.compact import compact
from pipeline.ingest import ingest
from pipeline.lake import Lake
from pipeline.query import behaviors
from pipeline.query import named as queries
from pipeline.query import views as catalog
from pipeline.readers.patterns import pattern_regex

DAYS = ("2024-03-01", "2024-03-02", "2024-03-03")


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Three days of CloudFront logs, two objects a day (hours interleaved), WAF and configs."""
    tmp = tmp_path_factory.mktemp("scale")
    src = tmp / "src"
    for day in DAYS:
        for obj, hours in enumerate(((1, 13, 2), (12, 3, 14))):
            records = [
                cf_record(date=day, time=f"{h:02d}:{i:02d}:00", cs_uri_stem=f"/api/v1/item/{h}{i}", sc_status="503")
                for h in hours
                for i in range(20)
            ]
            write(src / day / f"E2EXAMPLE1.{day}-{obj:02d}.o{obj}.gz", gz(w3c_text(CF_FIELDS_33, records).encode()))
    inputs = [str(src / d) for d in DAYS]
    inputs += [str(SAMPLES / "waf" / "aws-docs.jsonl"), str(SAMPLES / "distribution")]
    summary = ingest(inputs, str(tmp / "lake"))
    assert summary.failed == 0, summary.problems
    return str(tmp / "lake")


def _arrow_view_rows(lake: str, table: str) -> pl.DataFrame:
    dt = Lake(lake).open(table)
    assert dt is not None
    con = duckdb.connect()
    con.register("t", dt.to_pyarrow_dataset())
    con.execute("SET TimeZone = 'UTC'")
    frame = con.sql("SELECT * FROM t").pl()
    con.close()
    return frame


@pytest.mark.parametrize("table", ["cloudfront", "waf", "behaviors", "origin_groups", "manifest"])
def test_parquet_views_return_the_arrow_datasets_rows_and_types(lake: str, table: str) -> None:
    con = catalog.connect(lake)
    try:
        text = con.sql(f"EXPLAIN SELECT * FROM {table}").fetchall()[0][1]
        assert "READ_PARQUET" in text.upper() or "PARQUET_SCAN" in text.upper(), text  # DuckDB's own reader
        ours = con.sql(f"SELECT * FROM {table}").pl()
    finally:
        con.close()
    theirs = _arrow_view_rows(lake, table)
    assert ours.schema == theirs.schema  # Delta schema's columns, order and types
    keys = [c for c in ours.columns if ours.schema[c] in (pl.String, pl.Int64, pl.Int32, pl.Datetime("us", "UTC"))]
    assert ours.height > 0
    assert ours.sort(keys, nulls_last=True).equals(theirs.sort(keys, nulls_last=True))


def test_a_lazy_connection_opens_only_the_tables_a_statement_names(lake: str, monkeypatch: Any) -> None:
    opened: list[str] = []
    real_open = Lake.open

    def counting_open(self: Lake, table: str) -> Any:
        opened.append(table)
        return real_open(self, table)

    monkeypatch.setattr(Lake, "open", counting_open)
    con = catalog.connect(lake, lazy=True)
    try:
        assert opened == []
        assert catalog.query(con, "SELECT 1 AS one").to_pylist() == [{"one": 1}]
        assert opened == []
        # nothing is defined until something is named: SELECT 1 pays for no view
        assert con.sql("SELECT count(*) FROM duckdb_views() WHERE NOT internal").fetchall() == [(0,)]
        # a statement reading the catalog sees every view, still without opening a table
        columns = catalog.query(con, "SELECT column_name FROM duckdb_columns()").column("column_name").to_pylist()
        assert "cs_uri_stem" in columns
        assert opened == []
        assert catalog.query(con, "SELECT count(*) AS n FROM cloudfront").to_pylist() == [{"n": 360}]
        assert opened == ["cloudfront"]
        named = queries.get("failover")
        rows = catalog.run_named(con, named, named.bind({}))
        assert sorted(opened) == ["behaviors", "cloudfront", "origin_groups", "realtime", "waf"]
        assert rows.num_rows > 0
        catalog.query(con, "SELECT count(*) FROM cloudfront")
        assert len(opened) == 5  # each table once
    finally:
        con.close()


def _scan_counts(con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any]) -> list[tuple[int, int, int]]:
    """(files read, row groups scanned, row groups) of each Parquet scan EXPLAIN ANALYZE reports."""
    text = con.execute("EXPLAIN ANALYZE " + sql, params).fetchall()[0][1]
    files = [int(n) for n in re.findall(r"Total Files Read: (\d+)", text)]
    groups = [(int(a), int(b)) for a, b in re.findall(r"Row Groups Scanned: (\d+) / (\d+)", text)]
    return [(f, g[0], g[1]) for f, g in zip(files, groups, strict=False)]


def test_a_one_hour_window_opens_one_days_files_and_after_compaction_one_hours_row_groups(
    lake: str, tmp_path: Path
) -> None:
    import shutil

    copy = str(tmp_path / "lake")
    shutil.copytree(lake, copy)
    named = queries.get("hit-ratio")
    window = named.bind({"start": f"{DAYS[1]}T13:00:00Z", "end": f"{DAYS[1]}T14:00:00Z"})
    con = catalog.connect(copy, lazy=True)
    try:
        catalog.ensure(con, named.sql)
        before = _scan_counts(con, named.sql, window)
        assert catalog.run_named(con, named, window).column("requests").to_pylist() == [20]
    finally:
        con.close()
    assert (2, 2, 2) in before  # cloudfront: the day's two files of six; each one row group
    # compaction merges each day into one file sorted by time, in row groups of a few rows here
    from pipeline.compact import compaction as compact_mod

    original = compact_mod.ROW_GROUP_ROWS
    compact_mod.ROW_GROUP_ROWS = 20
    try:
        compact(copy, older_than=__import__("datetime").timedelta(0), tables=["cloudfront"])
    finally:
        compact_mod.ROW_GROUP_ROWS = original
    con = catalog.connect(copy, lazy=True)
    try:
        catalog.ensure(con, named.sql)
        after = _scan_counts(con, named.sql, window)
        assert catalog.run_named(con, named, window).column("requests").to_pylist() == [20]
    finally:
        con.close()
    files, scanned, total = next(c for c in after if c[2] > 1)
    assert files == 1 and total == 6 and scanned == 1  # one file, the one row group holding 13:00-14:00


PATTERNS = [
    "*", "/api/*", "api/*", "*.m3u8", "/img/?.png", "/products/??*", "/a*b", "/exact.html", "/",
    "/docs/*/index.html", "/x[1].txt", "/back\\slash*", "*.*", "/caf\u00e9/*", "/?", "/x[?].txt", "*/x",
]  # fmt: skip
PATHS = [
    "/", "", "/api/", "/api/v1/x", "api/v1", "/apix", "/video/a.m3u8", "/img/a.png", "/img/ab.png", "/img/\u00e9.png",
    "/products/ab", "/products/a", "/ab", "/a", "/b", "/aXb", "/exact.html", "/docs/v2/index.html",
    "/docs/index.html", "/x[1].txt", "/x1.txt", "/back\\slash/y", "/backslash", "/caf\u00e9/menu", "/a\nb",
    "/line\nbreak.m3u8", "/\u00e9", "//double", "/api/*", "noslash.m3u8", "/x[a].txt", "/x", "//x", "x",
]  # fmt: skip


def test_glob_and_prefix_suffix_matching_mean_what_the_regular_expression_means() -> None:
    expected = {
        (p, path): re.fullmatch(pattern_regex(p), path.split("?", 1)[0].removeprefix("/")) is not None
        for p in PATTERNS
        for path in PATHS
    }
    # DuckDB: the expanded CASE over behavior slots, one distribution per pattern
    con = duckdb.connect()
    rows = [(f"D{i}", 0, p, pattern_regex(p), "origin", False) for i, p in enumerate(PATTERNS)]
    con.execute(
        "CREATE TABLE behaviors (distribution_id VARCHAR, precedence INTEGER, path_pattern VARCHAR, "
        "path_regex VARCHAR, target_origin_id VARCHAR, target_is_group BOOLEAN)"
    )
    con.executemany("INSERT INTO behaviors VALUES (?, ?, ?, ?, ?, ?)", rows)
    con.execute(
        "CREATE TABLE origin_groups "
        "(distribution_id VARCHAR, origin_group_id VARCHAR, failover_status_codes SMALLINT[])"
    )
    con.execute("CREATE TABLE req (distribution_id VARCHAR, uri_stem VARCHAR, i INTEGER)")
    con.executemany(
        "INSERT INTO req VALUES (?, ?, ?)",
        [(f"D{i}", path, i) for i in range(len(PATTERNS)) for path in PATHS],
    )
    slots = behaviors.define(con)
    sql = behaviors.expand(f"SELECT r.i, r.uri_stem, {behaviors.CALL} IS NOT NULL FROM req r", slots)
    duck = {(PATTERNS[i], path): hit for i, path, hit in con.sql(sql).fetchall()}
    assert duck == expected
    # Polars: the literal tests of the when-chain
    frame = pl.DataFrame({"path": PATHS})
    for p in PATTERNS:
        test = pattern_test(p, pattern_regex(p), pl.col("path").str.strip_prefix("/"))
        got = frame.with_columns(test.alias("hit")).get_column("hit")
        assert dict(zip(PATHS, got.to_list(), strict=True)) == {path: expected[(p, path)] for path in PATHS}, p


def test_an_s3_lake_is_read_by_duckdbs_parquet_reader_through_the_lakes_filesystem(s3_env: Any) -> None:
    lake_uri = f"s3://{s3_env.make_bucket('scale')}/lake"
    summary = ingest([str(SAMPLES / "cloudfront"), str(SAMPLES / "distribution")], lake_uri)
    assert summary.failed == 0, summary.problems
    expected = Lake(lake_uri).scan("cloudfront").group_by("dt").agg(pl.len()).sort("dt").collect().rows()
    con = catalog.connect(lake_uri, lazy=True)
    try:
        catalog.ensure(con, "cloudfront")
        plan = con.sql("EXPLAIN SELECT * FROM cloudfront").fetchall()[0][1].upper()
        assert "READ_PARQUET" in plan or "PARQUET_SCAN" in plan
        got = catalog.query(con, "SELECT dt, count(*) AS n FROM cloudfront GROUP BY dt ORDER BY dt")
        assert [tuple(r.values()) for r in got.to_pylist()] == expected
        named = queries.get("hit-ratio")
        assert catalog.run_named(con, named, named.bind({})).num_rows > 0
        # the lockdown still holds: nothing outside the lake can be read
        with pytest.raises(Exception, match=r"disabled by configuration|Permission"):
            con.sql("SELECT * FROM read_csv('/etc/hostname')").fetchall()
    finally:
        con.close()
