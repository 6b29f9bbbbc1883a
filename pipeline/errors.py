"""The one exception root of edgelake, and its few families.

Every error that can reach a user is an :class:`EdgelakeError` whose message is written for a
person: it names the file (and line, when there is one) and says what to do. Third-party
exceptions are wrapped at the boundary with ``raise ... from exc`` so the CLI never prints a
traceback for bad input. This module imports nothing from the rest of the package.
"""

from __future__ import annotations


class EdgelakeError(Exception):
    """Root of every error edgelake raises on purpose."""

    exit_code = 2


class UsageError(EdgelakeError):
    """The command line or a parameter is wrong (unknown source, bad option value)."""


class SchemaError(EdgelakeError):
    """A schema file under ``schemas/`` is malformed; a bug in the project, not in the logs."""


class InputError(EdgelakeError):
    """An input cannot be opened or listed at all (missing path, no permission, bad URI)."""


class ConfigError(EdgelakeError):
    """A real-time field list, distribution config or other configuration is unusable."""


class LakeError(EdgelakeError):
    """The lake cannot be read or written (missing table, failed commit)."""


class QueryError(EdgelakeError):
    """A SQL statement or named query failed; the message carries DuckDB's reason."""
