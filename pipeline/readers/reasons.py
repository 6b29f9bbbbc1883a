"""The reason codes of the ``rejects`` table, as constants; their meanings live in ``schemas/rejects.toml``.

A reader names what is wrong with a line through one of these, never a string of its own, so the codes
people filter on stay stable and documented (a test checks this list against the schema's).

Must not: import anything but the package's schemas.
"""

from __future__ import annotations

from typing import Final

INVALID_UTF8: Final = "invalid_utf8"
FIELD_COUNT: Final = "field_count"
BAD_VALUE: Final = "bad_value"
NO_HEADER: Final = "no_header"
INVALID_JSON: Final = "invalid_json"
NOT_AN_OBJECT: Final = "not_an_object"
MISSING_FIELD: Final = "missing_field"
TRUNCATED_LINE: Final = "truncated_line"
TRUNCATED_GZIP: Final = "truncated_gzip"
EMPTY_OBJECT: Final = "empty_object"
UNKNOWN_SOURCE: Final = "unknown_source"
CONFIG: Final = "config"
UNREADABLE: Final = "unreadable"

ALL: Final = (
    INVALID_UTF8,
    FIELD_COUNT,
    BAD_VALUE,
    NO_HEADER,
    INVALID_JSON,
    NOT_AN_OBJECT,
    MISSING_FIELD,
    TRUNCATED_LINE,
    TRUNCATED_GZIP,
    EMPTY_OBJECT,
    UNKNOWN_SOURCE,
    CONFIG,
    UNREADABLE,
)
