"""Named SQL queries: ``sql/<name>.sql`` files with a declared header, loaded, checked and run.

Each file holds one query and opens with a comment header::

    -- name: hit-ratio
    -- description: Cache hit ratio per distribution and cache behavior.
    -- param: start timestamp = null   Inclusive lower bound on the request time (UTC).
    -- param: bucket text = null [hour|day]   Adds bucket_start when given.

Parameters are referenced in the body as ``$name`` and bound by DuckDB, never formatted into the SQL.
Loading checks both directions: a ``$name`` used but not declared, or declared but not used, is an
error naming the file and line. Values given by a user are converted to the declared type here, so a
bad value is a clear message and not a DuckDB cast error halfway through a query.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from pipeline import resources
from pipeline.errors import QueryError, UsageError
from pipeline.times import parse_instant

TYPES = ("timestamp", "date", "text", "int", "float", "bool", "text[]")
_HEADER = re.compile(r"^--\s*(name|description|param)\s*:\s*(.*)$")
_PARAM = re.compile(
    r"^(?P<name>[a-z_][a-z0-9_]*)\s+(?P<type>[a-z\[\]]+)"
    r"(?:\s*=\s*(?P<default>\S+))?(?:\s*\[(?P<choices>[^\]]+)\])?\s*(?P<doc>.*)$"
)
_USE = re.compile(r"\$([a-z_][a-z0-9_]*)")


@dataclass(frozen=True)
class Param:
    name: str
    type: str
    default: Any
    required: bool
    choices: tuple[str, ...] | None
    doc: str


@dataclass(frozen=True)
class NamedQuery:
    name: str
    description: str
    params: tuple[Param, ...]
    sql: str
    path: Path

    def bind(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Every declared parameter with a typed value (defaults filled), unknown names refused."""
        known = {p.name: p for p in self.params}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise UsageError(
                f"query {self.name!r} has no parameter {', '.join(unknown)}; it takes: {', '.join(known) or 'none'}"
            )
        out: dict[str, Any] = {}
        for p in self.params:
            if p.name in values and values[p.name] is not None:
                out[p.name] = convert(p, values[p.name])
            elif p.required:
                raise UsageError(f"query {self.name!r} needs --param {p.name}=... ({p.doc})")
            else:
                out[p.name] = p.default
        return out


def convert(p: Param, value: Any) -> Any:
    """Convert a user's value (often a string from the command line) to the parameter's type."""
    try:
        if p.type == "timestamp":
            result: Any = parse_instant(value if isinstance(value, date) else str(value), f"--param {p.name}")
        elif p.type == "date":
            result = value if isinstance(value, date) else date.fromisoformat(str(value))
        elif p.type == "int":
            result = int(value)
        elif p.type == "float":
            result = float(value)
        elif p.type == "bool":
            text = str(value).lower()
            if text not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(value)
            result = text in ("true", "1", "yes")
        elif p.type == "text[]":
            result = (
                list(value)
                if isinstance(value, list | tuple)
                else [v.strip() for v in str(value).split(",") if v.strip()]
            )
        else:
            result = str(value)
    except (TypeError, ValueError, UsageError) as exc:
        raise UsageError(f"parameter {p.name}: {value!r} is not a valid {p.type}") from exc
    if p.choices and result not in p.choices:
        raise UsageError(f"parameter {p.name}: {value!r} is not one of {', '.join(p.choices)}")
    return result


def _default(text: str | None, type_: str, where: str) -> tuple[Any, bool]:
    if text is None:
        return None, True
    if text.lower() == "null":
        return None, False
    probe = Param("default", type_, None, False, None, "")
    try:
        return convert(probe, text), False
    except UsageError as exc:
        raise QueryError(f"{where}: default {text!r} is not a valid {type_}") from exc


def parse(path: Path) -> NamedQuery:
    text = path.read_text(encoding="utf-8")
    name = description = None
    params: list[Param] = []
    body_start = 0
    lines = text.splitlines()
    for i, line in enumerate(lines, 1):
        m = _HEADER.match(line.strip())
        if not m:
            if line.strip().startswith("--") or not line.strip():
                continue
            body_start = i - 1
            break
        key, value = m.group(1), m.group(2).strip()
        where = f"{path}:{i}"
        if key == "name":
            name = value
        elif key == "description":
            description = (description + " " + value) if description else value
        else:
            pm = _PARAM.match(value)
            if not pm or pm.group("type") not in TYPES:
                raise QueryError(
                    f"{where}: cannot read parameter declaration {value!r}; expected "
                    f"'name type [= default] [choice|...] description' with type in {', '.join(TYPES)}"
                )
            default, required = _default(pm.group("default"), pm.group("type"), where)
            choices = tuple(c.strip() for c in pm.group("choices").split("|")) if pm.group("choices") else None
            params.append(
                Param(pm.group("name"), pm.group("type"), default, required, choices, pm.group("doc").strip())
            )
    if not name or not description:
        raise QueryError(f"{path}: the header needs '-- name:' and '-- description:' lines")
    if name != path.stem:
        raise QueryError(f"{path}: declared name {name!r} differs from the file name {path.stem!r}")
    body_lines = lines[body_start:]
    declared = {p.name for p in params}
    used: dict[str, int] = {}
    for i, line in enumerate(body_lines, body_start + 1):
        code = line.split("--", 1)[0]
        for m in _USE.finditer(code):
            used.setdefault(m.group(1), i)
    for pname, line_no in used.items():
        if pname not in declared:
            raise QueryError(f"{path}:{line_no}: ${pname} is used but not declared in the header")
    for p in params:
        if p.name not in used:
            raise QueryError(f"{path}: parameter {p.name} is declared but never used")
    return NamedQuery(name, description, tuple(params), "\n".join(body_lines), path)


@functools.cache
def all_queries() -> dict[str, NamedQuery]:
    """What ``edgelake query`` lists and runs: the analyses (``sql/*.sql``) and the queries ``edgelake
    doctor`` reads its evidence with (``sql/doctor/*.sql``), so every number it shows can be re-derived."""
    paths = [*sorted(resources.SQL_DIR.glob("*.sql")), *sorted((resources.SQL_DIR / "doctor").glob("*.sql"))]
    return {q.name: q for q in (parse(p) for p in paths)}


@functools.cache
def report_queries() -> dict[str, NamedQuery]:
    """The reports' own queries: ``sql/reports/*.sql``, declared and checked like the analyses."""
    return {q.name: q for q in (parse(p) for p in sorted((resources.SQL_DIR / "reports").glob("*.sql")))}


def report_query(name: str) -> NamedQuery:
    found = report_queries().get(name)
    if found is None:
        raise QueryError(f"no report query named {name!r} in {resources.SQL_DIR / 'reports'}")
    return found


def get(name: str) -> NamedQuery:
    queries = all_queries()
    if name not in queries:
        raise UsageError(f"no query named {name!r}; `edgelake query --list` shows them")
    return queries[name]
