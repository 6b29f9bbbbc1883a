"""DuckDB views over the lake: the only place where the lake's locations meet SQL.

:func:`connect` opens an in-memory DuckDB database with one view per lake table (``cloudfront``,
``realtime``, ``waf``, ``rejects``, ``manifest`` and the config tables), each reading that Delta
table's current snapshot with DuckDB's own Parquet reader over the files delta-rs lists
(:mod:`pipeline.query.tables`; the Arrow dataset where that cannot be trusted). A table that has never
been written is an empty view of its schema, so queries run on any lake. Once the views exist, the
connection is locked down: no configuration changes, and no file access outside the lake.

``connect(lake, lazy=True)`` opens no table and defines nothing: the views (first as the empty table
of their schema) and the derived views and macros are defined the first time a statement run through
:func:`query` or :func:`run_named` names one of them, or asks DuckDB's catalog what exists, and a
view is pointed at the lake the first time a statement names it. Opening all eleven tables costs ~1 s
and defining the empty views and macros ~0.15 s; ``SELECT 1`` needs neither, an analysis two to four
tables. :func:`define` defines everything at once (the console, to complete names).
"""

from __future__ import annotations

import atexit
import functools
import os
import re
import shutil
import tempfile
import weakref
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa

from pipeline import resources, schemas
from pipeline.errors import QueryError
from pipeline.query import behaviors, tables
from pipeline.query.named import NamedQuery
from pipeline.sqlutil import quote_ident

if TYPE_CHECKING:  # pipeline.lake imports Polars (~0.3 s): a lazy connection to a local lake waits for a table
    from pipeline.lake import Lake

READ_ONLY_STATEMENTS = {"SELECT", "EXPLAIN", "PRAGMA"}
# words of a statement that reads DuckDB's catalog (besides duckdb_* and pg_* functions)
_CATALOG_WORDS = {"information_schema", "show", "describe", "summarize", "pragma", "sqlite_master"}
DUCKDB_MEMORY = "1GB"
# in dependency order
DERIVED_VIEWS = (
    "time_buckets",
    "edge_requests",
    "resolved_requests",
    "edge_made",
    "classified_requests",
    "failures",
    "rate_keys",
)


_OPEN: weakref.WeakSet[duckdb.DuckDBPyConnection] = weakref.WeakSet()


@dataclass
class _Pending:
    """The lake behind a lazy connection and the tables not yet pointed at it."""

    lake: Lake | str
    tables: set[str] = field(default_factory=set)
    defined: bool = False  # the empty views, derived views and macros exist


_PENDING: weakref.WeakKeyDictionary[duckdb.DuckDBPyConnection, _Pending] = weakref.WeakKeyDictionary()


@atexit.register
def _close_all() -> None:
    # A connection still holding Arrow datasets when the interpreter tears down can abort the
    # process (exit 134); closing them first makes every exit clean.
    for con in list(_OPEN):
        con.close()


def _lake(lake: Lake | str) -> Lake:
    from pipeline.lake import Lake

    return Lake(lake) if isinstance(lake, str) else lake


def connect(lake: Lake | str, *, lazy: bool = False) -> duckdb.DuckDBPyConnection:
    uri = lake if isinstance(lake, str) else lake.uri
    is_s3 = uri.startswith("s3://")
    if not lazy:
        from pipeline.storage.fs import require_lake

        require_lake(uri)
    if is_s3 or not lazy:
        lake = _lake(lake)
    con = duckdb.connect()
    _OPEN.add(con)
    con.execute("SET TimeZone = 'UTC'")  # timestamps come back as UTC, as they are stored
    con.execute("SET enable_progress_bar = false")  # stderr carries diagnostics, not DuckDB's bar
    _bound_memory(con)
    if is_s3:
        con.register_filesystem(_lake(lake).fs)  # s3:// locations read through the lake's own s3fs
    pending = _Pending(lake, set(schemas.table_names()))
    if lazy:
        _PENDING[con] = pending
    else:
        _define(con)
        for table in sorted(pending.tables):
            _load(con, _lake(lake), table)
        _derived_views(con)
    # Reading files stays possible inside the lake only: the views read Parquet files there.
    root = (uri if is_s3 else os.path.abspath(uri)).rstrip("/") + "/"
    con.execute("SET allowed_directories = $dirs", {"dirs": [root]})
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")
    return con


def _bound_memory(con: duckdb.DuckDBPyConnection) -> None:
    """Cap DuckDB's memory; joins, aggregates and sorts past the cap spill to a private temporary directory.

    DuckDB's default cap is 80% of the machine: a failover-episodes over 10M requests took 5.9 GB.
    With a cap its operators go out of core instead, so a query's peak stays near the cap whatever the
    lake holds (EDGELAKE_DUCKDB_MEMORY, default 1GB; the Python process adds ~250 MB of its own).
    """
    limit = os.environ.get("EDGELAKE_DUCKDB_MEMORY", "").strip() or DUCKDB_MEMORY
    spill = tempfile.mkdtemp(prefix="edgelake-duckdb-")
    weakref.finalize(con, shutil.rmtree, spill, True)
    try:
        con.execute("SET memory_limit = $limit", {"limit": limit})
    except duckdb.Error as exc:
        raise QueryError(f"EDGELAKE_DUCKDB_MEMORY={limit!r} is not a memory size such as 1GB or 800MB") from exc
    con.execute("SET temp_directory = $dir", {"dir": spill})


def _derived_views(con: duckdb.DuckDBPyConnection) -> None:
    """The views and macros over the tables, shared by the named queries (again when the config tables change)."""
    slots = behaviors.define(con)
    for name in DERIVED_VIEWS:
        text = (resources.VIEW_DIR / f"{name}.sql").read_text(encoding="utf-8")
        con.execute(behaviors.expand(text, slots))


def _define(con: duckdb.DuckDBPyConnection, *, derived: bool = True) -> None:
    """Every lake table as an empty view of its schema, then the derived views and macros over them."""
    for table in schemas.table_names():
        _empty_view(con, table)
    if derived:
        _derived_views(con)


def define(con: duckdb.DuckDBPyConnection) -> None:
    """Define every view and macro on a lazy connection now (tables are still read on first use)."""
    pending = _PENDING.get(con)
    if pending is not None and not pending.defined:
        _define(con)
        pending.defined = True


def _empty_view(con: duckdb.DuckDBPyConnection, table: str) -> None:
    hidden = f"__empty_{table}"
    con.register(hidden, schemas.load(table).arrow_schema().empty_table())
    con.execute(f"CREATE OR REPLACE VIEW {quote_ident(table)} AS SELECT * FROM {quote_ident(hidden)}")


def _load(con: duckdb.DuckDBPyConnection, lake: Lake, table: str) -> None:
    """Point the view ``table`` at the table's current snapshot (it stays empty if never written)."""
    dt = lake.open(table)
    if dt is None:
        return
    select = tables.source_sql(con, dt, lake.table_uri(table))
    if select is None:
        if not dt.file_uris():
            return
        hidden = f"__lake_{table}"
        con.register(hidden, dt.to_pyarrow_dataset())
        select = f"SELECT * FROM {quote_ident(hidden)}"
    con.execute(f"CREATE OR REPLACE VIEW {quote_ident(table)} AS {select}")


def _names_in(sql: str, names: set[str]) -> set[str]:
    """The table and view names ``sql`` mentions (a superset: a name in a string literal counts too)."""
    words = {w.lower() for w in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", sql)}
    return names & words


@functools.cache
def _dependencies() -> dict[str, frozenset[str]]:
    """Derived view or macro -> the lake tables it reads, directly or through other derived views."""
    tables = set(schemas.table_names())
    resolved: dict[str, frozenset[str]] = {}
    for name in DERIVED_VIEWS:  # dependency order: the views a view reads are resolved before it
        text = (resources.VIEW_DIR / f"{name}.sql").read_text(encoding="utf-8")
        text = re.sub(r"--[^\n]*", "", text)  # our view files' comments name modules and tables in prose
        reads: set[str] = set(behaviors.READS) if behaviors.used_in(text) else set()
        for dep in _names_in(text, tables | set(resolved)):
            reads |= resolved.get(dep, {dep})
        # the file's name and every view or macro it creates (a statement may call a macro alone)
        for created in [name, *re.findall(r"CREATE OR REPLACE (?:MACRO|VIEW) (\w+)", text)]:
            resolved[created.lower()] = frozenset(reads & tables)
    return resolved


def _asks_catalog(sql: str) -> bool:
    """Whether ``sql`` may list or describe what exists (then every view must be defined first)."""
    words = {w.lower() for w in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", sql)}
    return bool(words & _CATALOG_WORDS) or any(w.startswith(("duckdb_", "pg_")) for w in words)


def ensure(con: duckdb.DuckDBPyConnection, sql: str) -> None:
    """Define what ``sql`` may name and point the tables it needs at the lake, on a lazy connection
    (a no-op otherwise)."""
    pending = _PENDING.get(con)
    if pending is None:
        return
    deps = _dependencies()
    named = _names_in(sql, set(schemas.table_names()) | set(deps))
    if named:  # the statement reads the lake (SELECT 1 does not)
        from pipeline.storage.fs import require_lake

        require_lake(pending.lake if isinstance(pending.lake, str) else pending.lake.uri)
    fresh = not pending.defined and bool(named or _asks_catalog(sql))
    if fresh:  # the derived views once, below, after the tables they read are loaded (~0.12 s each time)
        _define(con, derived=False)
        pending.defined = True
    needed = {t for n in named for t in deps.get(n, {n})} & pending.tables
    if needed:
        lake = pending.lake = _lake(pending.lake)
        for table in sorted(needed):
            _load(con, lake, table)
            pending.tables.discard(table)
    if fresh or needed & behaviors.READS:  # the matcher's slots are read from these tables
        _derived_views(con)


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
        ensure(con, sql)
        return con.sql(sql, params=params or None).to_arrow_table()
    except duckdb.Error as exc:
        raise QueryError(str(exc).strip()) from exc


def run_named(con: duckdb.DuckDBPyConnection, named: NamedQuery, params: dict[str, Any]) -> pa.Table:
    """Run a named query with its (already checked) parameters bound by DuckDB."""
    try:
        ensure(con, named.sql)
        return con.sql(named.sql, params=params).to_arrow_table()
    except duckdb.Error as exc:
        raise QueryError(f"{named.path.name}: {str(exc).strip()}") from exc
