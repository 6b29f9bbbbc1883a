"""Which cache behavior a request path falls under, in DuckDB: one CASE per row over the config's slots.

``resolved_requests`` replays CloudFront's behavior choice for logs that do not name it: the first
behavior of the request's distribution, in precedence order, whose path pattern matches. Done as a
join of paths with patterns it costs a hash aggregate over distinct paths (millions a day: hashed
assets, ids, tokens) and a join back (over 10M requests: killed after 548 s at 3 GB), or a list of
behaviors per row (the list operators alone took ~10 s of profile time, the whole scan ~3 s). A CASE
with one WHEN per behavior is a handful of vectorised string tests per row.

The CASE is generated, but only its shape: it refers to slots 0..K-1 and nothing else. The values
(distribution id, GLOB pattern, regex, precedence of each behavior) are columns of the one-row view
``behavior_slots``, which the query cross-joins; no value from the lake is ever put into SQL text.
``sql/views/resolved_requests.sql`` says where the CASE goes with the call ``CALL`` below, which
:func:`expand` replaces (a DuckDB macro cannot read the cross-joined row's columns, and passing
them as one struct argument packed a 64-field struct per row: 6 s over 10M rows). Slots are ordered
by distribution and precedence, so the first WHEN that holds is the request's behavior.

A pattern means what GLOB means (``*`` any run of characters, ``/`` and newlines included; ``?`` one
character; the rest literal) unless it holds one of GLOB's own specials ``[``, ``]`` or ``\\``: such a
pattern is matched with its ``path_regex`` (the translation both engines share).

Must not: read anything but the ``behaviors`` view, or put a value into SQL text.
"""

from __future__ import annotations

import duckdb

CALL = "behavior_slot(r.distribution_id, r.uri_stem, bs)"


def define(con: duckdb.DuckDBPyConnection) -> int:
    """(Re)create ``behavior_slots`` for the behaviors the connection sees now; returns their number."""
    count = int(con.sql("SELECT count(*) FROM behaviors").fetchall()[0][0])
    slots = [
        f"max(distribution_id) FILTER (WHERE slot = {i}) AS d{i}, max(pat) FILTER (WHERE slot = {i}) AS g{i}, "
        f"'/' || max(pat) FILTER (WHERE slot = {i}) AS s{i}, max(regex) FILTER (WHERE slot = {i}) AS r{i}, "
        f"max(precedence) FILTER (WHERE slot = {i}) AS p{i}"
        for i in range(count)
    ]
    columns = ", ".join(["count(*) AS behaviors", *slots])
    con.execute(
        f"""CREATE OR REPLACE VIEW behavior_slots AS
        SELECT {columns}
        FROM (
            SELECT row_number() OVER (ORDER BY distribution_id, precedence) - 1 AS slot, distribution_id, precedence,
                CASE WHEN starts_with(path_pattern, '/') THEN path_pattern[2:] ELSE path_pattern END AS pat,
                CASE WHEN regexp_matches(path_pattern, '[\\[\\]\\\\]') THEN path_regex END AS regex
            FROM behaviors
        )"""
    )
    return count


def expand(sql: str, count: int) -> str:
    """``sql`` with :data:`CALL` replaced by the CASE over ``count`` slots (the precedence, or NULL).

    The path is tested as logged: a pattern's leading ``/`` is optional and so is the path's, so a
    path starting with ``/`` is matched against ``/`` + the pattern's body (slot column ``s``), any
    other against the body (``g``). Cutting the ``/`` off each path instead was a string slice per row:
    1.2 s of CPU per 5M paths, more than all the matching.
    """
    if not count:
        return sql.replace(CALL, "CAST(NULL AS INTEGER)")

    def chain(path: str, pattern: str, bare: str) -> str:
        return " ".join(
            f"WHEN r.distribution_id = bs.d{i} AND CASE WHEN bs.r{i} IS NULL THEN {path} GLOB bs.{pattern}{i} "
            f"ELSE regexp_full_match({bare}, bs.r{i}) END THEN bs.p{i}"
            for i in range(count)
        )

    rooted = chain("r.uri_stem", "s", "r.uri_stem[2:]")
    other = chain("coalesce(r.uri_stem, '')", "g", "coalesce(r.uri_stem, '')")
    return sql.replace(CALL, f"CASE WHEN starts_with(r.uri_stem, '/') THEN CASE {rooted} END ELSE CASE {other} END END")
