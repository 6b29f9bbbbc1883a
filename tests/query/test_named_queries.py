"""Every SQL file under ``sql/`` loads: its header declares exactly the parameters its body binds.

The analyses (``sql/*.sql``) and the reports' own queries (``sql/reports/*.sql``) are loaded the same way;
a parameter used but not declared, or declared but not used, is an error naming the file. The reports
take their SQL from these files only: no Python string in ``pipeline/reports`` holds a query.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from helpers import ROOT

from pipeline import resources
from pipeline.errors import QueryError
from pipeline.query.named import all_queries, parse, report_queries

REPORTS = ROOT / "pipeline" / "reports"


def test_every_analysis_and_report_query_loads() -> None:
    analyses, reports = all_queries(), report_queries()
    assert set(analyses) >= {"hit-ratio", "status-mix", "failover", "waf-fp-candidates", "rate-sizing"}
    assert set(reports) == {p.stem for p in (resources.SQL_DIR / "reports").glob("*.sql")}
    assert not set(analyses) & set(reports)  # one name, one query


def test_a_parameter_used_but_not_declared_names_the_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.sql"
    bad.write_text("-- name: bad\n-- description: x\n-- param: start timestamp Start.\nSELECT $start, $stop\n")
    with pytest.raises(QueryError, match=r"bad.sql:4: \$stop is used but not declared"):
        parse(bad)


def test_reports_hold_no_sql_of_their_own() -> None:
    statement = re.compile(r"""["'](\s*)(SELECT|WITH)\s""")
    offenders = [p.name for p in REPORTS.glob("*.py") if statement.search(p.read_text())]
    assert offenders == []
