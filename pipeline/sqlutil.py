"""Quoting of SQL identifiers, in one place. Values are never quoted here: they are bound as parameters."""

from __future__ import annotations


def quote_ident(name: str) -> str:
    """A DuckDB identifier for ``name``, whatever characters it holds."""
    if "\x00" in name:
        raise ValueError("identifiers cannot contain NUL")
    return '"' + name.replace('"', '""') + '"'
