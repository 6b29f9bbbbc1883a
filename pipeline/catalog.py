"""DuckDB views over the lake: the only place where the lake's locations meet SQL.

:func:`connect` opens an in-memory DuckDB database with one view per lake table (``cloudfront``,
``realtime``, ``waf``, ``rejects``, ``manifest`` and the config tables), each reading that Delta
table's current snapshot through its Arrow dataset (DuckDB's own delta and httpfs extensions cannot
be downloaded here; the Arrow dataset also reads S3 through delta-rs). A table that has never been
written is an empty view of its schema, so queries run on any lake. Once the views exist, the
connection is locked down: no file or network access, no configuration changes.
"""

from __future__ import annotations

import atexit
import weakref
from typing import Any

import duckdb
import pyarrow as pa

from pipeline import resources, schemas
from pipeline.errors import QueryError
from pipeline.lake import Lake
from pipeline.queries import NamedQuery
from pipeline.sqlutil import quote_ident

READ_ONLY_STATEMENTS = {"SELECT", "EXPLAIN", "PRAGMA"}
DERIVED_VIEWS = ("edge_requests", "resolved_requests", "edge_made", "failures", "rate_keys")  # dependency order


_OPEN: weakref.WeakSet[duckdb.DuckDBPyConnection] = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    # A connection still holding Arrow datasets when the interpreter tears down can abort the
    # process (exit 134); closing them first makes every exit clean.
    for con in list(_OPEN):
        con.close()


def connect(lake: Lake | str) -> duckdb.DuckDBPyConnection:
    lake = Lake(lake) if isinstance(lake, str) else lake
    con = duckdb.connect()
    _OPEN.add(con)
    for table in schemas.table_names():
        dt = lake.open(table)
        source = schemas.load(table).arrow_schema().empty_table() if dt is None else dt.to_pyarrow_dataset()
        hidden = f"__lake_{table}"
        con.register(hidden, source)
        con.execute(f"CREATE VIEW {quote_ident(table)} AS SELECT * FROM {quote_ident(hidden)}")
    for name in DERIVED_VIEWS:  # views and macros over the tables, shared by the named queries
        con.execute((resources.VIEW_DIR / f"{name}.sql").read_text(encoding="utf-8"))
    con.execute("SET TimeZone = 'UTC'")  # timestamps come back as UTC, as they are stored
    con.execute("SET enable_progress_bar = false")  # stderr carries diagnostics, not DuckDB's bar
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")
    return con


def check_read_only(con: duckdb.DuckDBPyConnection, sql: str) -> None:
    """Refuse anything but queries: the console and ``edgelake sql`` never change the lake."""
    try:
        statements = con.extract_statements(sql)
    except duckdb.Error as exc:
        raise QueryError(f"SQL does not parse: {exc}") from exc
    if not statements:
        raise QueryError("no SQL statement given")
    for st in statements:
        kind = str(st.type).rsplit(".", 1)[-1]
        if kind not in READ_ONLY_STATEMENTS:
            raise QueryError(f"only queries are allowed here (got a {kind} statement); the lake is read-only")


def query(con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, object] | None = None) -> pa.Table:
    check_read_only(con, sql)
    try:
        return con.sql(sql, params=params or None).to_arrow_table()
    except duckdb.Error as exc:
        raise QueryError(str(exc).strip()) from exc


def run_named(con: duckdb.DuckDBPyConnection, named: NamedQuery, params: dict[str, Any]) -> pa.Table:
    """Run a named query with its (already checked) parameters bound by DuckDB."""
    try:
        return con.sql(named.sql, params=params).to_arrow_table()
    except duckdb.Error as exc:
        raise QueryError(f"{named.path.name}: {str(exc).strip()}") from exc
