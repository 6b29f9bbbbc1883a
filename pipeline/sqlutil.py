"""Quoting for SQL text, in one place: identifiers, and string literals where no parameter can be bound.

DuckDB queries bind every value as a parameter; nothing here is for them. Delta predicates
(``DeltaTable.delete``, ``write_deltalake(predicate=...)``) take SQL text and no parameters, so the
values they need (object URIs, which come from listings, and config keys) are quoted by
:func:`sql_literal`, and nowhere else.
"""

from __future__ import annotations


def quote_ident(name: str) -> str:
    """A DuckDB identifier for ``name``, whatever characters it holds."""
    if "\x00" in name:
        raise ValueError("identifiers cannot contain NUL")
    return '"' + name.replace('"', '""') + '"'


def sql_value(value: object) -> str:
    """A SQL literal for a value shown to a person in a command to re-run (never for running: bind instead)."""
    from datetime import UTC, datetime

    if value is None:
        return "NULL"
    if isinstance(value, datetime):
        return f"TIMESTAMPTZ '{value.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}'"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return sql_literal(str(value))


def sql_literal(text: str) -> str:
    """``text`` as a SQL string literal (single quotes doubled); NUL is refused, as no SQL text holds it."""
    if "\x00" in text:
        raise ValueError("SQL literals cannot contain NUL")
    return "'" + text.replace("'", "''") + "'"
