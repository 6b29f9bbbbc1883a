"""CloudFront cache-behavior path patterns as regular expressions both engines understand.

A path pattern matches the whole request path without the query string, case-sensitively: ``*``
is any run of characters (``/`` included), ``?`` exactly one character, everything else literal, and a
leading ``/`` is optional on both sides. The translation anchors the expression and escapes every other
punctuation character itself (not ``re.escape``, whose output is Python-specific), so the same text is
a valid pattern for DuckDB's RE2 and Polars' Rust regex and means the same in each. The path to test
is the request's URI stem (no query string) without its leading ``/``, as ``resolved_requests`` prepares it.
"""

from __future__ import annotations

_LITERAL_PUNCT = set("/_-~%=,;:@!&'\"<>#` ")  # never special in RE2 or Rust regex outside classes


def pattern_regex(pattern: str) -> str:
    """``/api/*.json`` -> ``(?s)^api/.*\\.json$`` (matched against the path without its leading ``/``)."""
    body = pattern[1:] if pattern.startswith("/") else pattern
    out = ["(?s)^"]  # (?s): `*` spans even a decoded newline
    for ch in body:
        if ch == "*":
            out.append(".*")
        elif ch == "?":
            out.append(".")
        elif ch.isalnum() or ch in _LITERAL_PUNCT or ord(ch) > 127:
            out.append(ch)
        else:
            out.append("\\" + ch)
    out.append("$")
    return "".join(out)
