"""The analyst console: statements, dot-commands, completion, errors, script mode and a real terminal.

Most tests drive :class:`pipeline.console.Console` with lines and read what it printed; one test runs
``edgelake console`` in a pseudo terminal (pexpect) for the prompt, Tab, history and Ctrl-D, and one
pipes a script into the command for its exit status. The lake holds the AWS documentation samples:
11 CloudFront requests, statuses 200 ×4, 304 ×1, 502 ×3 and 3 without a status (v2 example).
"""

from __future__ import annotations

import io
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pexpect
import pytest
from helpers import EDGELAKE, ROOT

from pipeline import resources, schemas
from pipeline.console.app import Console, history_path, main
from pipeline.console.sqltext import is_complete, mask, one_line, split_sql
from pipeline.ingest import ingest
from pipeline.query import named as queries

EDGELAKE_CMD = str(EDGELAKE)
STATUS_TABLE = [
    "sc_status | n",
    "----------+--",
    "200       | 4",
    "304       | 1",
    "502       | 3",
    "NULL      | 3",
    "(4 rows)",
]
STATUS_SQL = "SELECT sc_status, count(*) AS n FROM cloudfront GROUP BY 1 ORDER BY 1;"
TINY_QUERY = """\
-- name: status-count
-- description: Requests per status code, from a lower bound.
-- param: min_status int = 0   Lowest status counted.
-- param: bucket text = null [hour|day]   Unused grouping, here for completion of choices.
SELECT sc_status, count(*) AS requests
FROM cloudfront
WHERE sc_status >= $min_status AND ($bucket IS NULL OR $bucket IS NOT NULL)
GROUP BY ALL ORDER BY sc_status
"""


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> str:
    root = str(tmp_path_factory.mktemp("console") / "lake")
    summary = ingest([str(ROOT / "data/samples/aws-docs")], root)
    assert summary.rows["cloudfront"] == 11
    return root


class Session:
    """A console writing into strings; ``feed`` returns the number of failed statements."""

    def __init__(self, lake: str) -> None:
        self.stdout, self.stderr = io.StringIO(), io.StringIO()
        self.console = Console(lake, out=self.stdout, err=self.stderr, fit=False)

    def feed(self, *lines: str) -> int:
        return self.console.run_lines(lines)

    def take(self) -> tuple[list[str], list[str]]:
        out, err = self.stdout.getvalue().splitlines(), self.stderr.getvalue().splitlines()
        for stream in (self.stdout, self.stderr):
            stream.seek(0)
            stream.truncate()
        return out, err


@pytest.fixture
def session(lake: str) -> Iterator[Session]:
    s = Session(lake)
    yield s
    s.console.close()


@pytest.fixture
def tiny_query(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    sql_dir = tmp_path / "sql"
    sql_dir.mkdir()
    (sql_dir / "status-count.sql").write_text(TINY_QUERY, encoding="utf-8")
    monkeypatch.setattr(resources, "SQL_DIR", sql_dir)
    queries.all_queries.cache_clear()
    yield sql_dir
    queries.all_queries.cache_clear()


# --- cutting input into statements -----------------------------------------------------------------
def test_split_sql_cuts_at_semicolons_outside_strings_and_comments() -> None:
    text = "SELECT 'a;b' AS s; -- c;d\nSELECT \"x;y\" FROM t /* e;f */; SELECT $$g;h$$;;  -- tail;\n"
    assert split_sql(text) == (["SELECT 'a;b' AS s", '-- c;d\nSELECT "x;y" FROM t /* e;f */', "SELECT $$g;h$$"], "")
    assert split_sql("SELECT 1; SELECT\n  2") == (["SELECT 1"], " SELECT\n  2")
    assert split_sql("SELECT 'it''s; open") == ([], "SELECT 'it''s; open")
    assert mask("a 'b;c' -- d\ne") == ("a ''''' -- d\ne".replace("-- d", "    "), None)
    assert mask("x /* never closed")[1] == "/*"
    assert [is_complete(t) for t in ("SELECT 1;", "SELECT 1", ".tables", "", "SELECT ';'", "SELECT 1; -- done")] == [
        True,
        False,
        True,
        True,
        False,
        True,
    ]


def test_one_line_drops_duckdbs_caret_pointer() -> None:
    message = 'Parser Error: syntax error at or near "SELEC"\n\nLINE 1: SELEC 1\n        ^^^^^'
    assert one_line(message) == 'Parser Error: syntax error at or near "SELEC"'


# --- statements --------------------------------------------------------------------------------------
def test_query_prints_a_table_with_its_row_count(session: Session) -> None:
    assert session.feed(STATUS_SQL) == 0
    assert session.take() == (STATUS_TABLE, [])


def test_statement_spanning_lines_runs_when_its_semicolon_arrives(session: Session) -> None:
    assert session.feed("SELECT", "  count(*) AS n  -- a comment; not the end", "FROM cloudfront") == 0
    assert session.take() == (["n ", "--", "11", "(1 row)"], [])  # unfinished at the end of input: run as is
    assert session.feed("SELECT 'a;b' AS s,", "  2 AS two; SELECT 3 AS three;") == 0
    out, _ = session.take()
    assert out == ["s   | two", "----+----", "a;b | 2  ", "(1 row)", "three", "-----", "3    ", "(1 row)"]


def test_write_attempts_are_refused_and_the_console_goes_on(session: Session) -> None:
    failures = session.feed(
        "DELETE FROM waf;",
        "CREATE TABLE t AS SELECT 1;",
        "COPY cloudfront TO 'x.csv';",
        "SELECT * FROM read_csv('/etc/passwd');",
        "SELECT 1 AS still_here;",
    )
    out, err = session.take()
    assert failures == 4
    assert out == ["still_here", "----------", "1         ", "(1 row)"]
    assert err[0] == "Error: line 1: only queries are allowed here (got a DELETE statement); the lake is read-only"
    assert err[1].startswith("Error: line 2: only queries are allowed here (got a CREATE statement)")
    assert err[2].startswith("Error: line 3: only queries are allowed here (got a COPY statement)")
    assert "file system operations are disabled" in err[3]
    assert len(err) == 4


def test_errors_are_one_line_each(session: Session) -> None:
    assert (
        session.feed(
            "SELEC 1;",
            "SELECT nope FROM cloudfront;",
            "SELECT * FROM cloudfrnt;",
            ".bogus",
            ".schema cloudfrnt",
            ".format xml",
            ".maxrows many",
        )
        == 7
    )
    out, err = session.take()
    assert out == []
    assert err == [
        'Error: line 1: SQL does not parse: Parser Error: syntax error at or near "SELEC"',
        err[1],
        "Error: line 3: no table or view named cloudfrnt; did you mean cloudfront? (.tables lists them)",
        "Error: line 4: unknown command .bogus; .help lists the commands",
        "Error: line 5: no table or view named cloudfrnt; did you mean cloudfront? (.tables lists them)",
        "Error: line 6: .format takes one of table, csv, json, markdown",
        "Error: line 7: .maxrows takes a number of rows (0: all)",
    ]
    assert err[1].startswith('Error: line 2: Binder Error: Referenced column "nope" not found')


def test_results_polars_cannot_import_still_render(session: Session) -> None:
    assert session.feed("SELECT 1 AS a, 2 AS a, INTERVAL '1 day 90 minutes' AS i, NULL::INTERVAL AS n;") == 0
    out, _ = session.take()
    assert out == [
        "a | a_1 | i              | n   ",
        "--+-----+----------------+-----",
        "1 | 2   | 1 day 01:30:00 | NULL",
        "(1 row)",
    ]


# --- dot-commands ----------------------------------------------------------------------------------
def test_tables_lists_lake_tables_views_and_macros(session: Session) -> None:
    assert session.feed(".tables") == 0
    out, _ = session.take()
    names = {re.split(r"\s{2,}", line)[0].split("(")[0]: re.split(r"\s{2,}", line)[1] for line in out}
    assert {t: names[t] for t in schemas.table_names()} == dict.fromkeys(schemas.table_names(), "table")
    assert names["edge_requests"] == "view"
    assert names["resolved_requests"] == "macro"
    assert "CloudFront standard logs" in next(line for line in out if line.startswith("cloudfront "))


def test_schema_shows_columns_types_and_descriptions(session: Session) -> None:
    assert session.feed(".schema cloudfront") == 0
    out, _ = session.take()
    sch = schemas.load("cloudfront")
    assert out[0] == f"cloudfront: {sch.description}"
    rows = [line.split(None, 2) for line in out if line.startswith("  ") and not line.startswith("  partitioned")]
    assert [(r[0], r[1], r[2] if len(r) > 2 else "") for r in rows] == [
        (c.name, c.type_text, c.description) for c in sch.columns
    ]
    assert session.feed(".schema edge_requests") == 0
    out, _ = session.take()
    assert out[0] == "edge_requests: view"
    assert out[out.index(next(x for x in out if x.split()[0] == "status"))].split() == ["status", "SMALLINT"]


def test_formats_timer_and_output_file(session: Session, tmp_path: Path) -> None:
    query = "SELECT sc_status, count(*) AS n FROM cloudfront WHERE sc_status >= 300 GROUP BY 1 ORDER BY 1;"
    assert session.feed(".format csv", query, ".format json", query, ".format markdown", query) == 0
    out, err = session.take()
    assert out == [
        "sc_status,n",
        "304,1",
        "502,3",
        '[{"sc_status": 304, "n": 1}, {"sc_status": 502, "n": 3}]',
        "| sc_status | n |",
        "|---|---|",
        "| 304 | 1 |",
        "| 502 | 3 |",
    ]
    assert err == []
    target = tmp_path / "result.csv"
    assert (
        session.feed(".format csv", f".output '{target}'", query, ".output", ".timer on", ".format table", query) == 0
    )
    out, err = session.take()
    assert target.read_text(encoding="utf-8") == "sc_status,n\n304,1\n502,3\n"
    assert re.fullmatch(r"\(2 rows, \d+\.\d{3} s\)", out[-1])
    assert session.feed(f".output {tmp_path}/no/such/dir/x") == 1
    assert session.take()[1] == [f"Error: line 1: cannot write {tmp_path}/no/such/dir/x: No such file or directory"]


def test_wide_and_long_results_are_cut_to_the_screen(lake: str) -> None:
    session = Session(lake)
    session.console.screen_fit, session.console.width = True, 70
    assert session.feed(".maxrows 2", "SELECT * FROM cloudfront ORDER BY timestamp;") == 0
    out, err = session.take()
    assert len(out) == 2 + 2 + 1
    assert out[0].startswith("timestamp ") and out[0].rstrip().endswith("| dt")
    assert "| … |" in out[2]
    assert all(len(line) <= 70 for line in out)
    hidden = re.fullmatch(r"\(11 rows, 2 shown, (\d+) of 46 columns hidden\)", out[-1])
    assert hidden and int(hidden.group(1)) == 46 - (out[0].count("|") + 1 - 1)
    assert err == ["(.maxrows 0 shows every row, .format csv every column)"]
    session.console.close()


def test_named_queries_list_and_run(session: Session, tiny_query: Path) -> None:
    assert session.feed(".queries") == 0
    out, _ = session.take()
    assert out == [
        "status-count: Requests per status code, from a lower bound.",
        "    min_status=<int> (default 0) Lowest status counted.",
        "    bucket=<text> [hour|day] (default None) Unused grouping, here for completion of choices.",
    ]
    assert session.feed(".run status-count min_status=300") == 0
    out, _ = session.take()
    assert out == [
        "sc_status | requests",
        "----------+---------",
        "304       | 1       ",
        "502       | 3       ",
        "(2 rows)",
    ]
    failures = session.feed(
        ".run status-count min_status=abc",
        ".run status-count colour=red",
        ".run",
        ".run no-such-query",
        ".engine polars",
        ".run status-count",
        ".engine spark",
    )
    out, err = session.take()
    assert failures == 6
    assert err == [
        "Error: line 1: parameter min_status: 'abc' is not a valid int",
        "Error: line 2: query 'status-count' has no parameter colour; it takes: min_status, bucket",
        "Error: line 3: .run needs a query name; .queries lists them",
        "Error: line 4: no query named 'no-such-query'; `edgelake query --list` shows them",
        "Error: line 6: query 'status-count' has no Polars implementation; use .engine duckdb",
        "Error: line 7: .engine takes one of duckdb, polars",
    ]


def test_quit_stops_reading(session: Session) -> None:
    assert session.feed("SELECT 1 AS one;", ".quit", "SELECT 2 AS two;") == 0
    assert session.take()[0] == ["one", "---", "1  ", "(1 row)"]
    assert session.console.done


# --- completion ------------------------------------------------------------------------------------
def test_completion_of_tables_columns_keywords_and_commands(session: Session, tiny_query: Path) -> None:
    complete = session.console.complete
    assert complete("SELECT * FROM clo") == (3, ["cloudfront"])
    assert complete("select * from resolved") == (8, ["resolved_requests"])
    assert complete("SELECT sc_st") == (5, ["sc_status"])
    assert complete("SELECT * FROM cloudfront WHERE sc_st") == (5, ["sc_status"])
    assert complete("SELECT w.http_m", "SELECT w.http_m FROM waf AS w") == (6, ["http_method"])
    assert complete("SELECT cloudfront.x_edge_res") == (10, ["x_edge_result_type", "x_edge_response_result_type"])
    assert "SELECT" in complete("SEL")[1] and "select" in complete("sel")[1]
    assert complete("SELECT 'clo") == (0, [])
    assert complete(".sch") == (4, [".schema"])
    assert complete(".schema we") == (2, ["web_acl_rules"])
    assert complete(".format m") == (1, ["markdown"])
    assert complete(".run st") == (2, ["status-count"])
    assert complete(".run status-count ") == (0, ["min_status=", "bucket="])
    assert complete(".run status-count bucket=h") == (1, ["hour"])
    assert complete("SELECT 1;\n.ta") == (3, [".tables"])
    assert ".tables" not in complete("SELECT\n.ta")[1]  # inside a statement a dot is not a command


# --- entry points ----------------------------------------------------------------------------------
def test_history_location(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("EDGELAKE_HISTORY", str(tmp_path / "h"))
    assert history_path() == tmp_path / "h"
    monkeypatch.delenv("EDGELAKE_HISTORY")
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert history_path() == tmp_path / "state" / "edgelake" / "history"
    monkeypatch.delenv("XDG_STATE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert history_path() == tmp_path / ".local" / "state" / "edgelake" / "history"


def test_script_mode_exit_status(lake: str) -> None:
    out, err = io.StringIO(), io.StringIO()
    assert main(lake, stdin=io.StringIO(STATUS_SQL + "\n"), stdout=out, stderr=err) == 0
    assert out.getvalue().splitlines() == STATUS_TABLE
    good = subprocess.run(
        [EDGELAKE_CMD, "console", "--lake", lake],
        input="SELECT 41 + 1 AS answer;\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (good.returncode, good.stdout, good.stderr) == (0, "answer\n------\n42    \n(1 row)\n", "")
    bad = subprocess.run(
        [EDGELAKE_CMD, "console", "--lake", lake],
        input="SELECT 1 AS ok;\nDROP VIEW waf;\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 1
    assert bad.stdout.startswith("ok\n")
    assert bad.stderr.splitlines() == [
        "Error: line 2: only queries are allowed here (got a DROP statement); the lake is read-only"
    ]


def test_terminal_session_end_to_end(lake: str, tmp_path: Path) -> None:
    history = tmp_path / "state" / "history"
    env = {**os.environ, "EDGELAKE_HISTORY": str(history), "PROMPT_TOOLKIT_NO_CPR": "1", "TERM": "xterm"}

    def spawn() -> pexpect.spawn:
        child = pexpect.spawn(
            EDGELAKE_CMD, ["console", "--lake", lake], env=env, encoding="utf-8", timeout=30, dimensions=(40, 120)
        )
        child.expect("Ctrl-D quits")
        child.expect("edgelake>")
        return child

    child = spawn()
    child.send("SELECT sc_status,\r")  # Enter without ';' continues the statement on a new line
    child.expect(r"\.\.\.>")
    child.send("count(*) AS n FROM clo\t")  # Tab completes the table name (the rows below prove it)
    child.send(" GROUP BY 1 ORDER BY 1;\r")
    child.expect(r"502\s+\|\s+3\s+NULL\s+\|\s+3\s+\(4 rows, \d+\.\d+ s\)")
    child.send(".tables\r")
    child.expect("web_acl_rules +table")
    child.send(".schema cloudfront\r")
    child.expect(r"sc_status +int16")
    child.send("UPDATE waf SET action = 'ALLOW';\r")
    child.expect("Error: only queries are allowed here \\(got a UPDATE statement\\)")
    child.send("SELECT 6 * 7 AS answer;\r")
    child.expect(r"answer\s+-+\s+42\s+\(1 row, \d+\.\d+ s\)")
    child.expect("edgelake>")  # between prompts the terminal is in cooked mode, where Ctrl-D is no keystroke
    child.sendcontrol("d")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    saved = history.read_text(encoding="utf-8")
    assert "+SELECT sc_status,\n+count(*) AS n FROM cloudfront GROUP BY 1 ORDER BY 1;\n" in saved
    assert saved.rstrip().endswith("+SELECT 6 * 7 AS answer;")

    child = spawn()  # a new session recalls the last statement with the Up arrow
    child.send("\x1b[A")
    child.send("\r")
    child.expect(r"answer\s+-+\s+42")
    child.send(".quit\r")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def test_queries_lists_every_named_query_of_the_project(session: Session) -> None:
    named = queries.all_queries()
    assert session.feed(".queries") == 0
    out, _ = session.take()
    listed = [line.split(":", 1)[0] for line in out if not line.startswith(" ")]
    assert listed == (list(named) or [f"no named queries yet (files {resources.SQL_DIR}/*.sql)".split(":", 1)[0]])
