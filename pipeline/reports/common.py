"""What both reports share: the time window, running a named analysis with its re-run command, SQL helpers.

Numbers in a report come from the named analyses (:func:`analysis`, which also returns the exact
``edgelake query`` command that reproduces them) or, for per-minute breakdowns the named queries do
not offer, from SQL over the same shared views and table macros (``resolved_requests``,
``failures``) that those queries use (:func:`sql_rows`, with the ``edgelake sql`` command). Values are
bound as parameters; the commands shown are for people and never executed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import duckdb

from pipeline.sqlutil import sql_value
from pipeline.times import parse_instant


def instant(value: datetime | str | None, what: str) -> datetime | None:
    """A UTC datetime from a datetime or an ISO date/date-time text (``Z`` allowed); None stays None."""
    if value is None or value == "":
        return None
    return parse_instant(value, what)


def iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Window:
    start: datetime | None
    end: datetime | None

    def params(self) -> dict[str, str]:
        out = {}
        if self.start is not None:
            out["start"] = iso(self.start)
        if self.end is not None:
            out["end"] = iso(self.end)
        return out

    def describe(self) -> str:
        if self.start is None and self.end is None:
            return "all data in the lake"
        return f"{iso(self.start) if self.start else 'the beginning'} to {iso(self.end) if self.end else 'the end'}"


def shell_quote(text: str) -> str:
    """``text`` as one shell word: bare when safe, else double-quoted (reads better than '"'"' for SQL)."""
    if re.fullmatch(r"[A-Za-z0-9_./:=,@%+-]+", text):
        return text
    return '"' + re.sub(r'([\\"$`])', r"\\\1", text) + '"'


ENGINE = "polars"  # both engines return the same rows (tested); Polars skips DuckDB's per-call lake scan setup


def query_command(name: str, lake: str, params: Mapping[str, Any]) -> str:
    parts = ["edgelake", "query", name, "--lake", lake, "--engine", ENGINE]
    for key, value in params.items():
        if value is None:
            continue
        text = ",".join(str(v) for v in value) if isinstance(value, list | tuple) else str(value)
        parts += ["--param", f"{key}={text}"]
    return " ".join(shell_quote(p) for p in parts)


def analysis(name: str, lake: str, params: Mapping[str, Any]) -> tuple[list[dict[str, Any]], str]:
    """Rows of a named analysis and the command that reproduces them."""
    from pipeline.analyses import run

    clean = {k: v for k, v in params.items() if v is not None}
    frame = run(name, lake, clean, engine=ENGINE)
    return frame.to_dicts(), query_command(name, lake, clean)


def sql_rows(
    con: duckdb.DuckDBPyConnection, lake: str, name: str, params: Mapping[str, Any]
) -> tuple[list[dict[str, Any]], str]:
    """Rows of the report query ``sql/reports/<name>.sql``, and the ``edgelake sql`` command that re-runs it.

    The query runs with its parameters bound; the command shows them as literals, so it can be pasted.
    """
    from pipeline.query.named import report_query
    from pipeline.query.views import run_named

    named = report_query(name)
    bound = named.bind(params)
    table = run_named(con, named, bound)
    body = " ".join(line for line in named.sql.splitlines() if not line.lstrip().startswith("--"))
    shown = re.sub(r"\$([a-z_]+)", lambda m: sql_value(bound.get(m.group(1))), " ".join(body.split()))
    cmd = " ".join(shell_quote(p) for p in ["edgelake", "sql", shown, "--lake", lake])
    return table.to_pylist(), cmd
