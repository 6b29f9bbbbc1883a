"""Cutting SQL text into statements: semicolons outside strings, comments and dollar quotes.

Used by the console to know when a statement is complete and to run several at once. Pure text
functions; nothing here parses SQL beyond the lexical level or talks to DuckDB.
"""

from __future__ import annotations

import re

__all__ = ["is_complete", "mask", "one_line", "split_sql"]

_DOLLAR = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$")


def mask(text: str) -> tuple[str, str | None]:
    """``text`` with comments blanked to spaces and literals filled with their quote character.

    The result has the same length, so positions carry over, and no ``;`` or keyword survives inside
    a string or comment. The second value is the construct left open at the end (a quote, ``--``,
    ``/*`` or a ``$tag$``), or None.
    """
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        opener, closer = None, ""
        if ch in "'\"":
            opener, closer = ch, ch
        elif text.startswith("--", i):
            opener, closer = "--", "\n"
        elif text.startswith("/*", i):
            opener, closer = "/*", "*/"
        elif ch == "$" and (m := _DOLLAR.match(text, i)):
            opener = closer = m.group(0)
        if opener is None:
            out.append(ch)
            i += 1
            continue
        end = text.find(closer, i + len(opener))
        stop = n if end < 0 else end + len(closer)
        fill = " " if opener in ("--", "/*") else opener[0]
        out.append("".join(c if c == "\n" else fill for c in text[i:stop]))
        if end < 0:
            return "".join(out), opener
        i = stop
    return "".join(out), None


def split_sql(text: str) -> tuple[list[str], str]:
    """Complete statements in ``text`` (those with code, without their ``;``) and the unfinished rest.

    The rest is "" when nothing but whitespace and comments follows the last semicolon.
    """
    masked, open_ = mask(text)
    statements, start = [], 0
    for pos, ch in enumerate(masked):
        if ch == ";":
            if masked[start:pos].strip():
                statements.append(text[start:pos].strip())
            start = pos + 1
    rest = text[start:] if open_ not in (None, "--") or masked[start:].strip() else ""
    return statements, rest


def is_complete(text: str) -> bool:
    """True when Enter should run ``text``: a dot-command, nothing, or SQL ending with ``;``."""
    return not text.strip() or text.lstrip().startswith(".") or not split_sql(text)[1]


def one_line(message: str, limit: int = 400) -> str:
    """DuckDB's multi-line errors as one line; the ``LINE 1: ... ^^^`` pointer is dropped."""
    lines = [ln.strip() for ln in message.splitlines()]
    kept = [ln for ln in lines if ln and not ln.startswith("LINE ") and set(ln) - set("^ ")]
    text = " ".join(kept) or "failed"
    return text if len(text) <= limit else text[: limit - 1] + "…"
