"""Ingest from and into a real S3 API (SeaweedFS on loopback): listing, gzip objects, Delta on S3, the CLI.

The inputs are AWS's own documentation samples uploaded under CloudFront-style object names; the
expected typed values come from ``tests/expected/aws_docs.json``, so every assertion is about values
that survived the trip through S3, not just about the run finishing.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from helpers import AWS_DOCS, EDGELAKE, EXPECTED
from s3server import S3Server

from pipeline.ingest import IngestOptions, IngestSummary, ingest
from pipeline.lake import Lake
from pipeline.query.views import connect

pytestmark = pytest.mark.s3

EXPECTED_FILES = json.loads((EXPECTED / "aws_docs.json").read_text())["files"]
LEGACY_2019 = "EMLARXS9EXAMPLE.2019-11-14-20.RT4KCN4SGK9"
LEGACY_2014 = "EMLARXS9EXAMPLE.2014-11-14-20.RT4KCN4SGK9"
V2 = "v2-example.json"
# sample file -> (object key under the prefix, gzip it on upload?)
UPLOADS = {
    LEGACY_2019: (f"{LEGACY_2019}.gz", True),  # the legacy delivery name, really gzipped
    LEGACY_2014: (LEGACY_2014, False),  # plain text: compression is sniffed, never taken from the name
    V2: (f"v2/2024/11/14/{V2}.gz", True),  # nested deeper: a prefix is listed recursively
}
DIST = "EMLARXS9EXAMPLE"


def _row_key(row: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple((v is None, v if v is not None else 0) for v in row)


def _expected_rows(files: tuple[str, ...] = tuple(UPLOADS)) -> list[tuple[Any, ...]]:
    """(edge location, timestamp, distribution id, sc_bytes) of every data line, sorted."""
    out = []
    for name in files:
        for row in EXPECTED_FILES[name]["rows"].values():
            out.append(
                (
                    row["x_edge_location"],
                    datetime.fromisoformat(row["timestamp"]),
                    row["distribution_id"],
                    row.get("sc_bytes"),
                )
            )
    return sorted(out, key=_row_key)


ALL_ROWS = len(_expected_rows())
DATA_LINES = {name: len(EXPECTED_FILES[name]["rows"]) for name in UPLOADS}
HEADER_LINES = sum(EXPECTED_FILES[name]["header_lines"] for name in UPLOADS)


def _upload(server: S3Server, bucket: str, prefix: str = "logs") -> dict[str, str]:
    """Upload the samples under ``s3://bucket/prefix/``; return sample name -> object URI."""
    fs = server.filesystem()
    uris = {}
    for name, (key, compress) in UPLOADS.items():
        data = (AWS_DOCS / name).read_bytes()
        fs.pipe(f"{bucket}/{prefix}/{key}", gzip.compress(data) if compress else data)
        uris[name] = f"s3://{bucket}/{prefix}/{key}"
    return uris


def _lake_rows(lake_uri: str) -> list[tuple[Any, ...]]:
    frame = (
        Lake(lake_uri)
        .scan("cloudfront")
        .select("x_edge_location", "timestamp", "distribution_id", "sc_bytes")
        .collect()
    )
    return sorted(frame.iter_rows(), key=_row_key)


def _sql(lake_uri: str, statement: str) -> list[tuple[Any, ...]]:
    return connect(lake_uri).sql(statement).fetchall()


@dataclass(frozen=True)
class Ingested:
    uris: dict[str, str]  # sample name -> object URI
    lake_uri: str
    summary: IngestSummary


@pytest.fixture(scope="module")
def s3_lake(s3_server: S3Server) -> Ingested:
    """The samples uploaded under ``s3://<bucket>/logs/`` and ingested once into a lake on S3 (read-only use)."""
    with pytest.MonkeyPatch.context() as mp:
        s3_server.apply_env(mp)
        uris = _upload(s3_server, s3_server.make_bucket("logs"))
        lake_uri = f"s3://{s3_server.make_bucket('lake')}/lake"
        prefix = uris[LEGACY_2019].rsplit("/", 1)[0] + "/"
        summary = ingest([prefix], lake_uri, IngestOptions(source=None))
    return Ingested(uris, lake_uri, summary)


# --- S3 in, S3 lake ---------------------------------------------------------------------------------
def test_s3_prefix_into_s3_lake_counts(s3_lake: Ingested) -> None:
    summary = s3_lake.summary
    assert summary.objects == len(UPLOADS)
    assert summary.failed == 0 and summary.rejects == 0, summary.problems
    assert summary.rows == {"cloudfront": ALL_ROWS, "realtime": 0, "waf": 0}
    assert summary.lines == ALL_ROWS + HEADER_LINES
    assert summary.meta_lines == HEADER_LINES


def test_s3_lake_is_delta_on_s3_with_the_expected_values(s3_env: S3Server, s3_lake: Ingested) -> None:
    lake_uri, uris = s3_lake.lake_uri, s3_lake.uris
    # the Delta log and the data files are really on S3
    fs = s3_env.filesystem()
    lake_path = lake_uri.removeprefix("s3://")
    assert fs.exists(f"{lake_path}/cloudfront/_delta_log/00000000000000000000.json")
    assert fs.glob(f"{lake_path}/cloudfront/dt=2019-12-04/*.parquet")

    # typed values survived, and distribution_id of legacy rows came from the object name
    assert _lake_rows(lake_uri) == _expected_rows()
    per_object = (
        Lake(lake_uri)
        .scan("cloudfront")
        .group_by("source_file")
        .agg(pl.len().alias("n"), pl.col("distribution_id").unique().alias("ids"))
        .collect()
    )
    got = {r["source_file"]: (r["n"], r["ids"]) for r in per_object.iter_rows(named=True)}
    assert got == {
        uris[LEGACY_2019]: (DATA_LINES[LEGACY_2019], [DIST]),
        uris[LEGACY_2014]: (DATA_LINES[LEGACY_2014], [DIST]),
        uris[V2]: (DATA_LINES[V2], [None]),
    }


def test_duckdb_and_polars_agree_on_the_s3_lake(s3_env: S3Server, s3_lake: Ingested) -> None:
    lake_uri = s3_lake.lake_uri
    scan = Lake(lake_uri).scan("cloudfront")
    assert _sql(lake_uri, "SELECT count(*) FROM cloudfront") == [(ALL_ROWS,)]
    assert scan.select(pl.len()).collect().item() == ALL_ROWS
    by_dist = _sql(lake_uri, "SELECT distribution_id, count(*) FROM cloudfront GROUP BY 1 ORDER BY 1 NULLS LAST")
    assert by_dist == [(DIST, DATA_LINES[LEGACY_2019] + DATA_LINES[LEGACY_2014]), (None, DATA_LINES[V2])]
    assert (
        by_dist
        == scan.group_by("distribution_id").agg(pl.len()).sort("distribution_id", nulls_last=True).collect().rows()
    )
    polars_by_dt = scan.group_by("dt").agg(pl.len()).sort("dt").collect().rows()
    assert _sql(lake_uri, "SELECT dt, count(*) FROM cloudfront GROUP BY dt ORDER BY dt") == polars_by_dt
    assert _sql(lake_uri, "SELECT count(*) FROM manifest") == [(len(UPLOADS),)]
    assert _sql(lake_uri, "SELECT count(*) FROM rejects") == [(0,)]


def test_rerun_on_s3_lake_adds_nothing_and_a_changed_object_is_replaced(s3_env: S3Server) -> None:
    bucket = s3_env.make_bucket("logs")
    uris = _upload(s3_env, bucket)
    lake_uri = f"s3://{s3_env.make_bucket('lake')}/lake"
    prefix = f"s3://{bucket}/logs/"
    ingest([prefix], lake_uri)

    again = ingest([prefix], lake_uri)
    assert (again.skipped, again.objects, again.rows["cloudfront"]) == (len(UPLOADS), 0, 0)
    assert _sql(lake_uri, "SELECT count(*) FROM cloudfront") == [(ALL_ROWS,)]
    assert _sql(lake_uri, "SELECT count(*) FROM manifest") == [(len(UPLOADS),)]

    # a new version of one object (new ETag): its old rows go, its new rows come, the others stay
    lines = (AWS_DOCS / LEGACY_2019).read_bytes().splitlines(keepends=True)
    keep = 2 + 3  # the two header lines and the first three data lines
    s3_env.filesystem().pipe(uris[LEGACY_2019].removeprefix("s3://"), gzip.compress(b"".join(lines[:keep])))
    third = ingest([prefix], lake_uri)
    assert (third.objects, third.skipped, third.rows["cloudfront"]) == (1, len(UPLOADS) - 1, 3)
    assert _sql(lake_uri, "SELECT count(*) FROM cloudfront") == [(ALL_ROWS - DATA_LINES[LEGACY_2019] + 3,)]
    generations = _sql(lake_uri, "SELECT object_uri, max(generation) FROM manifest GROUP BY 1 ORDER BY 1")
    assert generations == sorted((uri, 2 if name == LEGACY_2019 else 1) for name, uri in uris.items())
    per_object = _sql(lake_uri, "SELECT source_file, count(*) FROM cloudfront GROUP BY 1 ORDER BY 1")
    assert per_object == sorted((uri, 3 if name == LEGACY_2019 else DATA_LINES[name]) for name, uri in uris.items())


# --- S3 in, local lake ------------------------------------------------------------------------------
def test_s3_input_into_local_lake_and_rerun_skips(s3_env: S3Server, tmp_path: Path) -> None:
    bucket = s3_env.make_bucket("logs")
    uris = _upload(s3_env, bucket, prefix="cf/2019")
    lake_dir = tmp_path / "lake"

    first = ingest([f"s3://{bucket}/cf"], str(lake_dir))  # no trailing slash: still a prefix
    assert (first.objects, first.rows["cloudfront"], first.rejects) == (len(UPLOADS), ALL_ROWS, 0)
    assert (lake_dir / "cloudfront" / "_delta_log").is_dir()
    assert _lake_rows(str(lake_dir)) == _expected_rows()
    sources = _sql(str(lake_dir), "SELECT DISTINCT source_file FROM cloudfront ORDER BY 1")
    assert sources == sorted((u,) for u in uris.values())

    second = ingest([f"s3://{bucket}/cf"], str(lake_dir))
    assert (second.skipped, second.objects, second.rows["cloudfront"], second.rejects) == (len(UPLOADS), 0, 0, 0)
    assert _sql(str(lake_dir), "SELECT count(*) FROM cloudfront") == [(ALL_ROWS,)]
    assert Lake(str(lake_dir)).scan("cloudfront").select(pl.len()).collect().item() == ALL_ROWS


def test_glob_over_s3_prefix(s3_env: S3Server, tmp_path: Path) -> None:
    bucket = s3_env.make_bucket("logs")
    uris = _upload(s3_env, bucket)
    lake_dir = str(tmp_path / "lake")

    # only the legacy deliveries of one distribution, one of them gzipped, one not
    summary = ingest([f"s3://{bucket}/logs/{DIST}.*"], lake_dir)
    assert summary.objects == 2
    assert summary.rows["cloudfront"] == DATA_LINES[LEGACY_2019] + DATA_LINES[LEGACY_2014]
    assert _lake_rows(lake_dir) == _expected_rows((LEGACY_2019, LEGACY_2014))

    # a glob that also matches the nested v2 object picks up just that one more
    more = ingest([f"s3://{bucket}/logs/**/*.gz"], lake_dir)
    assert (more.objects, more.skipped) == (1, 1)
    per_object = _sql(lake_dir, "SELECT source_file, count(*) FROM cloudfront GROUP BY 1 ORDER BY 1")
    assert per_object == sorted((uri, DATA_LINES[name]) for name, uri in uris.items())


# --- the CLI ----------------------------------------------------------------------------------------
def _cli(server: S3Server, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")} | server.env()
    return subprocess.run([str(EDGELAKE), *args], env=env, capture_output=True, text=True, timeout=120, check=False)


def test_cli_ingest_s3_to_s3_json_summary(s3_server: S3Server) -> None:
    assert EDGELAKE.exists(), f"{EDGELAKE} is missing: run .venv/bin/pip install -e '.[test]'"
    bucket = s3_server.make_bucket("logs")
    _upload(s3_server, bucket)
    lake_uri = f"s3://{s3_server.make_bucket('lake')}/lake"

    done = _cli(s3_server, "ingest", f"s3://{bucket}/logs/", "--lake", lake_uri, "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["files"] == len(UPLOADS)
    assert summary["rows"] == {"cloudfront": ALL_ROWS, "realtime": 0, "waf": 0}
    assert (summary["rejects"], summary["failed"], summary["skipped"]) == (0, 0, 0)
    assert summary["lines"] == ALL_ROWS + HEADER_LINES

    counted = _cli(
        s3_server,
        "sql",
        "SELECT distribution_id, count(*) AS n FROM cloudfront GROUP BY 1 ORDER BY 1",
        "--lake",
        lake_uri,
        "--format",
        "csv",
    )
    assert counted.returncode == 0, counted.stderr
    assert counted.stdout.splitlines()[1:] == [
        f"{DIST},{DATA_LINES[LEGACY_2019] + DATA_LINES[LEGACY_2014]}",
        f",{DATA_LINES[V2]}",
    ]


# Regression: files once carried statistics for two columns only, and delta-rs' Arrow dataset then
# pruned every file for a filter on any other column.
def test_duckdb_where_on_any_column_agrees_with_polars(s3_env: S3Server, s3_lake: Ingested) -> None:
    lake_uri = s3_lake.lake_uri
    lax = sum(1 for row in _expected_rows() if row[0] == "LAX1")
    polars_lax = Lake(lake_uri).scan("cloudfront").filter(pl.col("x_edge_location") == "LAX1").collect().height
    assert polars_lax == lax
    assert _sql(lake_uri, "SELECT count(*) FROM cloudfront WHERE x_edge_location = 'LAX1'") == [(lax,)]
    assert _sql(lake_uri, "SELECT count(*) FROM manifest WHERE generation = 1") == [(len(UPLOADS),)]
