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


def literal_parts(pattern: str) -> tuple[str, str | None] | None:
    """A pattern as literal tests, where it can be one: ``(head, tail)`` for ``head*tail``, ``(body, None)``
    for a pattern without wildcards, None when it holds a ``?`` or more than one ``*``.

    ``/static/*`` -> ``("static/", "")``; ``*.m3u8`` -> ``("", ".m3u8")``; ``/a*b`` -> ``("a", "b")``. Both
    engines test these with prefix, suffix and equality tests instead of a pattern match per row (most
    behaviors are one of these shapes). The parts are matched against the path without its leading ``/``,
    like :func:`pattern_regex`; for ``head*tail`` the two must not overlap.
    """
    body = pattern[1:] if pattern.startswith("/") else pattern
    if "?" in body or body.count("*") > 1:
        return None
    if "*" not in body:
        return body, None
    head, tail = body.split("*")
    return head, tail
