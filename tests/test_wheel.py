"""The wheel works outside the checkout: built and installed by .ci/install-wheel (the Dockerfile's install
step), then driven as a user would, from a directory that is not the checkout.

The fresh virtualenv gets the wheel alone (``--offline``: nothing downloaded); the project's
dependencies come from this test environment's site-packages, added to the new environment as a
plain path entry. Python processes ``.pth`` files only in its own site directories, so the editable
install's ``.pth`` (which puts the checkout on ``sys.path``) stays inert there: the checkout's
``pipeline`` cannot be imported, only the installed one.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from helpers import ROOT, SAMPLES

from pipeline import resources


def _run(*args: str | Path, cwd: Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=300, cwd=cwd, env=env)
    if check:
        assert done.returncode == 0, f"{args}: exit {done.returncode}\n{done.stderr}"
    return done


def test_an_editable_install_reads_the_checkouts_top_level_directories() -> None:
    # what the tests run on: edits to sql/ and schemas/ count without reinstalling
    assert (resources.SQL_DIR, resources.VIEW_DIR) == (ROOT / "sql", ROOT / "sql" / "views")
    assert resources.SCHEMA_DIR == ROOT / "schemas" or "EDGELAKE_SCHEMAS" in os.environ


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("wheel")
    venv = home / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=home)
    python = venv / "bin" / "python"
    _run(ROOT / ".ci" / "install-wheel", "--offline", "--builder", sys.executable, python, cwd=home)
    site = Path(_run(python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))", cwd=home).stdout.strip())
    (site / "edgelake_test_dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n", encoding="utf-8")
    return venv


@pytest.fixture
def cwd(tmp_path: Path) -> Path:
    assert not tmp_path.resolve().is_relative_to(ROOT)
    return tmp_path


@pytest.mark.slow
def test_the_installed_package_is_imported_not_the_checkout(venv: Path, cwd: Path) -> None:
    probe = (
        "import json, sys, pipeline; from pipeline import resources; "
        "print(json.dumps([pipeline.__file__, str(resources.SQL_DIR), str(resources.SCHEMA_DIR), sys.path]))"
    )
    package, sql_dir, schema_dir, path = json.loads(_run(venv / "bin" / "python", "-c", probe, cwd=cwd).stdout)
    site = venv.resolve()
    assert Path(package).resolve().is_relative_to(site)
    assert Path(sql_dir) == Path(package).parent / "_resources" / "sql"
    assert Path(schema_dir) == Path(package).parent / "_resources" / "schemas"
    assert (Path(sql_dir) / "views" / "edge_requests.sql").is_file()
    assert str(ROOT) not in path
    assert (venv / "bin" / "edgelake").read_text(encoding="utf-8").splitlines()[0] == f"#!{venv / 'bin' / 'python'}"


@pytest.mark.slow
def test_schema_ingest_query_and_sql(venv: Path, cwd: Path) -> None:
    edgelake = venv / "bin" / "edgelake"
    schema = _run(edgelake, "schema", "cloudfront", cwd=cwd).stdout
    assert "cs_user_agent" in schema and "[cs(User-Agent)]" in schema and "partitioned by dt" in schema

    lake = cwd / "lake"
    # the samples include the bad-input corpus, so some lines are quarantined: exit status 1
    ingested = _run(edgelake, "ingest", SAMPLES, "--lake", lake, "--json", cwd=cwd, check=False)
    assert ingested.returncode == 1 and "Traceback" not in ingested.stderr, ingested.stderr
    summary = json.loads(ingested.stdout)
    # the real-time sample waits for a run given --realtime-fields: reported failed, not in the manifest
    assert summary["failed"] == 1 and summary["rejects"] > 0
    assert any("--realtime-fields" in p["problem"] for p in summary["problems"])
    assert summary["rows"]["cloudfront"] > 500 and summary["rows"]["waf"] > 0 and summary["rows"]["behaviors"] > 0

    hit_ratio = json.loads(_run(edgelake, "query", "hit-ratio", "--lake", lake, "--format", "json", cwd=cwd).stdout)
    assert sum(row["requests"] for row in hit_ratio) == summary["rows"]["cloudfront"]
    assert all(row["hit_ratio"] is None or 0 <= row["hit_ratio"] <= 1 for row in hit_ratio)
    from_checkout = _run(
        Path(sys.executable).parent / "edgelake", "query", "hit-ratio", "--lake", lake, "--format", "json", cwd=cwd
    ).stdout
    assert json.loads(from_checkout) == hit_ratio

    nested = _run(edgelake, "sql", "SELECT [1,2] AS l, {'a': 1} AS s", "--lake", lake, "--format", "csv", cwd=cwd)
    rows = list(csv.reader(io.StringIO(nested.stdout)))
    assert rows == [["l", "s"], ["[1, 2]", '{"a": 1}']]
