"""Which cache behavior a request path falls under, in DuckDB: one CASE per row over the config's slots.

``resolved_requests`` replays CloudFront's behavior choice for logs that do not name it: the first
behavior of the request's distribution, in precedence order, whose path pattern matches. Done as a
join of paths with patterns it costs a hash aggregate over distinct paths (millions a day: hashed
assets, ids, tokens) and a join back (over 10M requests: killed after 548 s at 3 GB), or a list of
behaviors per row (the list operators alone took ~10 s of profile time, the whole scan ~3 s). A CASE
with one WHEN per behavior is a handful of vectorised string tests per row.

The CASE is generated, but only its shape: slot i's WHEN names session variables
(``getvariable('edgelake_behavior_d3')``) and nothing else. Their values (distribution id, pattern
parts, precedence of each behavior) are set by :func:`define` with bound parameters, so no value from
the lake is ever put into SQL text, and DuckDB folds each variable into a constant while planning.
Constants are what make the tests cheap: over 10M paths, prefix and suffix tests on constants took 2.6
CPU-s, GLOB on constants 3.1, and GLOB on the columns of a cross-joined one-row view of the slots
4.4 (the bare scan of the paths: 1.35). ``sql/views/resolved_requests.sql``
says where the CASE goes with the call ``CALL`` below, which :func:`expand` replaces.

A pattern is tested like the Polars twin does (:func:`pipeline.readers.patterns.literal_parts`):
equality for a pattern without wildcards, prefix and suffix for ``head*tail``; otherwise with GLOB
(same meaning: ``*`` any run of characters, ``/`` and newlines included; ``?`` one character), or with
the pattern's ``path_regex`` when it holds one of GLOB's own specials ``[``, ``]`` or ``\\``.

Must not: read anything but the ``behaviors`` and ``origin_groups`` views, or put a value into SQL text.
"""

from __future__ import annotations

import duckdb

from pipeline.readers.patterns import literal_parts

CALL = "behavior_slot(r.distribution_id, r.uri_stem)"  # the slot a path falls under, or NULL
LOGGED_CALL = "logged_slot(r.distribution_id, r.logged_behavior)"  # the slot of a logged pattern, or NULL
_VAR = "edgelake_behavior_"
# Per-slot lists, indexed by slot + 1, that stand in for joins of every request with the config
# (behaviors by precedence, then origin groups: ~4 s of hash-join profile time over 10M requests).
_LISTS = {
    "patterns": "SELECT list(path_pattern ORDER BY distribution_id, precedence) FROM behaviors",
    "targets": "SELECT list(target_origin_id ORDER BY distribution_id, precedence) FROM behaviors",
    "groups": "SELECT list(target_is_group ORDER BY distribution_id, precedence) FROM behaviors",
    "codes": "SELECT list(g.failover_status_codes ORDER BY b.distribution_id, b.precedence) FROM behaviors b "
    "LEFT JOIN origin_groups g ON b.target_is_group AND g.distribution_id = b.distribution_id "
    "AND g.origin_group_id = b.target_origin_id",
    "configured": "SELECT coalesce(list(DISTINCT distribution_id), []) FROM behaviors",
}

# How slot i is tested: "equal" (body), "split" (head, tail: which of them are non-empty), "glob", "regex".
Shape = tuple[str, bool, bool]


def _var(name: str, i: int) -> str:
    return f"getvariable('{_VAR}{name}{i}')"


def lookup(name: str, slot: str) -> str:
    """SQL reading a per-slot value (patterns, targets, groups, codes) for the slot expression ``slot``."""
    return f"getvariable('{_VAR}{name}')[{slot} + 1]"


READS = frozenset({"behaviors", "origin_groups"})  # the views define() reads


def used_in(sql: str) -> bool:
    """Whether ``sql`` matches behaviors or reads the slot variables (so it needs :data:`READS` loaded)."""
    return CALL in sql or LOGGED_CALL in sql or _VAR in sql


def define(con: duckdb.DuckDBPyConnection) -> tuple[Shape, ...]:
    """Set the slot variables for the config the connection sees now; returns each slot's shape."""
    for name, select in _LISTS.items():
        con.execute(f"SET VARIABLE {_VAR}{name} = ({select})")
    rows = con.sql(
        "SELECT distribution_id, path_pattern, path_regex FROM behaviors ORDER BY distribution_id, precedence"
    ).fetchall()
    shapes: list[Shape] = []
    for i, (dist, pattern, regex) in enumerate(rows):
        values: dict[str, object] = {"d": dist}
        parts = literal_parts(pattern or "")
        if parts is not None and parts[1] is None:
            values["h"] = parts[0]
            shapes.append(("equal", True, False))
        elif parts is not None:
            head, tail = parts
            values["h"], values["t"] = head, tail
            shapes.append(("split", bool(head), bool(tail)))
        elif any(c in (pattern or "") for c in "[]\\"):
            values["r"] = regex
            shapes.append(("regex", False, False))
        else:
            body = pattern[1:] if pattern.startswith("/") else pattern
            values["h"] = body
            shapes.append(("glob", False, False))
        for name, value in values.items():
            con.execute(f"SET VARIABLE {_VAR}{name}{i} = $value", {"value": value})
    return tuple(shapes)


def _test(i: int, shape: Shape, path: str, rooted: bool) -> str:
    """Slot i's test of ``path`` (a path starting with ``/`` when ``rooted``, matched as ``/`` + body)."""
    kind, has_head, has_tail = shape
    lead = "'/' || " if rooted else ""
    if kind == "equal":
        return f"{path} = {lead}{_var('h', i)}"
    if kind == "glob":
        return f"{path} GLOB {lead}{_var('h', i)}"
    if kind == "regex":
        bare = f"{path}[2:]" if rooted else path
        return f"regexp_full_match({bare}, {_var('r', i)})"
    tests = []
    if has_head:
        tests.append(f"starts_with({path}, {lead}{_var('h', i)})")
    if has_tail:
        tests.append(f"ends_with({path}, {_var('t', i)})")
        if has_head or rooted:  # the two must not overlap
            least = f"strlen({_var('h', i)}) + strlen({_var('t', i)})" + (" + 1" if rooted else "")
            tests.append(f"strlen({path}) >= {least}")
    return " AND ".join(tests) or "true"


def expand(sql: str, shapes: tuple[Shape, ...]) -> str:
    """``sql`` with :data:`CALL` and :data:`LOGGED_CALL` replaced by CASEs over the slots (the slot, or NULL).

    The path is tested as logged: a pattern's leading ``/`` is optional and so is the path's, so a
    path starting with ``/`` is matched against ``/`` + the pattern's body, any other against the body.
    Cutting the ``/`` off each path instead was a string slice per row: 1.2 s of CPU per 5M paths, more
    than all the matching.
    """
    if not shapes:
        return sql.replace(CALL, "CAST(NULL AS INTEGER)").replace(LOGGED_CALL, "CAST(NULL AS INTEGER)")

    def chain(path: str, rooted: bool) -> str:
        return " ".join(
            f"WHEN r.distribution_id = {_var('d', i)} AND {_test(i, shape, path, rooted)} THEN {i}"
            for i, shape in enumerate(shapes)
        )

    rooted = chain("r.uri_stem", True)
    other = chain("coalesce(r.uri_stem, '')", False)
    logged = " ".join(
        f"WHEN r.distribution_id = {_var('d', i)} AND r.logged_behavior = {lookup('patterns', str(i))} THEN {i}"
        for i in range(len(shapes))
    )
    return sql.replace(
        CALL, f"CASE WHEN starts_with(r.uri_stem, '/') THEN CASE {rooted} END ELSE CASE {other} END END"
    ).replace(LOGGED_CALL, f"CASE {logged} END")
