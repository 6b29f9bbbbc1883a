"""The CLI contract: exit codes, streams, output formats, no tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOC_33 = ROOT / "data" / "samples" / "aws-docs" / "EMLARXS9EXAMPLE.2019-11-14-20.RT4KCN4SGK9"


def edgelake(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pipeline.cli", *args], capture_output=True, text=True, timeout=120, cwd=ROOT
    )


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = str(tmp_path_factory.mktemp("cli") / "lake")
    res = edgelake("ingest", str(DOC_33), "--lake", path, "--json")
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout)
    assert summary["files"] == 1 and summary["rows"]["cloudfront"] == 6 and summary["rejects"] == 0
    assert set(summary["rows"]) >= {"cloudfront", "realtime", "waf"}
    return path


def test_sql_formats(lake: str) -> None:
    q = "SELECT sc_status, count(*) AS n FROM cloudfront GROUP BY ALL ORDER BY sc_status"
    as_json = json.loads(edgelake("sql", q, "--lake", lake, "--format", "json").stdout)
    assert as_json == [{"sc_status": 200, "n": 3}, {"sc_status": 502, "n": 3}]
    assert edgelake("sql", q, "--lake", lake, "--format", "csv").stdout.splitlines() == [
        "sc_status,n",
        "200,3",
        "502,3",
    ]
    md = edgelake("sql", q, "--lake", lake, "--format", "markdown").stdout.splitlines()
    assert md[0] == "| sc_status | n |" and md[2] == "| 200 | 3 |"
    table = edgelake("sql", q, "--lake", lake).stdout
    assert "(2 rows)" in table


def test_sql_refuses_writes_without_traceback(lake: str) -> None:
    res = edgelake("sql", "DROP VIEW cloudfront", "--lake", lake)
    assert res.returncode == 2
    assert "read-only" in res.stderr and "Traceback" not in res.stderr


def test_bad_sql_is_one_line(lake: str) -> None:
    res = edgelake("sql", "SELECT nope FROM cloudfront", "--lake", lake)
    assert res.returncode == 2 and "Traceback" not in res.stderr and "nope" in res.stderr


def test_a_mistyped_lake_is_an_error_not_empty_tables(tmp_path: Path) -> None:
    missing = str(tmp_path / "no-such-lake")
    for args in (("sql", "SELECT count(*) FROM cloudfront"), ("query", "hit-ratio")):
        res = edgelake(*args, "--lake", missing)
        assert res.returncode == 2 and "no lake at" in res.stderr and "Traceback" not in res.stderr
    # a statement that reads no table needs no lake
    assert edgelake("sql", "SELECT 1 AS one", "--lake", missing, "--format", "csv").stdout.split() == ["one", "1"]
    # an empty directory is a lake nothing was ingested into yet: its tables are empty, not an error
    res = edgelake("sql", "SELECT count(*) AS n FROM cloudfront", "--lake", str(tmp_path), "--format", "csv")
    assert res.returncode == 0 and res.stdout.split() == ["n", "0"]


def test_schema_lists_columns_with_descriptions() -> None:
    out = edgelake("schema", "cloudfront").stdout
    assert "cs_user_agent" in out and "[cs(User-Agent)]" in out and "partitioned by dt" in out
    assert "Traceback" not in edgelake("schema", "no-such-table").stderr


def test_missing_input_is_a_usage_error(tmp_path: Path) -> None:
    res = edgelake("ingest", str(tmp_path / "missing.gz"), "--lake", str(tmp_path / "lake"))
    assert res.returncode == 2
    assert "no such file" in res.stderr and "Traceback" not in res.stderr


def test_unknown_source_option(tmp_path: Path) -> None:
    res = edgelake("ingest", str(DOC_33), "--lake", str(tmp_path / "lake"), "--source", "elb")
    assert res.returncode == 2 and "unknown source" in res.stderr


def test_unwritable_lake_and_outputs_are_one_line_errors(tmp_path: Path, lake: str) -> None:
    not_a_dir = tmp_path / "a-file"
    not_a_dir.write_text("x")
    res = edgelake("ingest", str(DOC_33), "--lake", str(not_a_dir))
    assert res.returncode == 2 and "cannot write to the lake" in res.stderr and "Traceback" not in res.stderr
    for args in (
        ["query", "hit-ratio", "--lake", lake, "--format", "csv", "--out", str(not_a_dir / "x.csv")],
        [
            "report",
            "incident",
            "--lake",
            lake,
            "--out",
            str(not_a_dir / "x.html"),
            "--start",
            "2019-12-13T00:00:00Z",
            "--end",
            "2019-12-14T00:00:00Z",
        ],
    ):
        res = edgelake(*args)
        assert res.returncode == 2, res.stderr
        assert "cannot write" in res.stderr and "Traceback" not in res.stderr


def test_a_worker_started_early_is_dropped_when_not_needed(tmp_path: Path) -> None:
    # With --workers 2 the batch commands start a worker process before their own imports. One object
    # needs no worker, and a usage error needs none either: the worker is killed, the run ends cleanly
    # and nothing is left holding the output streams open (subprocess.run would wait for it).
    doc_24 = DOC_33.with_name("EMLARXS9EXAMPLE.2014-11-14-20.RT4KCN4SGK9")
    res = edgelake("ingest", str(DOC_33), "--lake", str(tmp_path / "lake"), "--workers", "2", "--json")
    assert res.returncode == 0 and "Traceback" not in res.stderr, res.stderr
    assert json.loads(res.stdout)["rows"]["cloudfront"] == 6
    res = edgelake(
        "ingest", str(DOC_33), str(doc_24), "--lake", str(tmp_path / "lake"), "--workers", "2", "--source", "nonsense"
    )
    assert res.returncode == 2 and "unknown source" in res.stderr and "Traceback" not in res.stderr
    res = edgelake("nightly", str(DOC_33.parent), "--lake", str(tmp_path / "lake"), "--workers", "2", "--json")
    assert res.returncode == 0 and "Traceback" not in res.stderr, res.stderr
    assert json.loads(res.stdout)["files"] == 2  # the two other documentation samples; DOC_33 was read
