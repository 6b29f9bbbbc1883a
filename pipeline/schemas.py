"""Log schemas as data: loads ``schemas/*.toml`` and answers every "what is this column" question.

The TOML files are the single source of truth for column names, raw AWS field names, Arrow types,
nullability and documentation, and for two storage choices per column: ``stats = false`` (no min/max
statistics: the column is never used to skip files) and ``dictionary = false`` (no Parquet dictionary:
nearly every value is distinct). Turning ``stats`` back on for a column leaves the files written
before without them, and delta-rs reads a listed column missing from a file's statistics as all null:
rewrite those files (or leave the choice alone) before relying on filters over that column.

Readers, the lake, the DuckDB catalog and ``edgelake schema`` all ask this module; none of them spells
a column type of its own. Field names become column names through
:func:`column_name` (the AWS name snake-cased), so a field AWS adds tomorrow still gets a stable,
predictable column.
"""

from __future__ import annotations

import functools
import re
import tomllib
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from pipeline import resources
from pipeline.errors import SchemaError

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_NON_WORD = re.compile(r"[^a-z0-9]+")


def column_name(field: str) -> str:
    """Snake-case an AWS field name.

    ``cs(User-Agent)`` -> ``cs_user_agent``; ``DistributionId`` -> ``distribution_id``.
    """
    name = _CAMEL.sub("_", field.strip()).lower()
    name = _NON_WORD.sub("_", name).strip("_")
    if not name:
        raise SchemaError(f"field name {field!r} has no letters or digits to make a column name from")
    if name[0].isdigit():
        name = "f_" + name
    return name


# --- a tiny parser for the type strings used in the TOML files -------------------------------------
_SIMPLE: dict[str, pa.DataType] = {
    "string": pa.string(),
    "large_string": pa.large_string(),
    "bool": pa.bool_(),
    "int8": pa.int8(),
    "int16": pa.int16(),
    "int32": pa.int32(),
    "int64": pa.int64(),
    "float32": pa.float32(),
    "float64": pa.float64(),
    "date32": pa.date32(),
    "timestamp": pa.timestamp("us", tz="UTC"),
}
_TOKEN = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*|[<>,:])")


def parse_type(text: str) -> pa.DataType:
    """Parse ``int64``, ``list<string>``, ``struct<name: string, value: string>`` (nested freely)."""
    tokens = [m.group(1) for m in _TOKEN.finditer(text)]
    if "".join(tokens) != re.sub(r"\s+", "", text):
        raise SchemaError(f"cannot read type {text!r}")
    pos = 0

    def take(expected: str | None = None) -> str:
        nonlocal pos
        if pos >= len(tokens):
            raise SchemaError(f"type {text!r} ends too early")
        tok = tokens[pos]
        if expected is not None and tok != expected:
            raise SchemaError(f"type {text!r}: expected {expected!r}, found {tok!r}")
        pos += 1
        return tok

    def parse() -> pa.DataType:
        word = take()
        if word == "list":
            take("<")
            inner = parse()
            take(">")
            return pa.list_(inner)
        if word == "struct":
            take("<")
            fields = []
            while True:
                name = take()
                take(":")
                fields.append(pa.field(name, parse()))
                if take() == ">":
                    return pa.struct(fields)
        if word in _SIMPLE:
            return _SIMPLE[word]
        raise SchemaError(f"type {text!r}: unknown type {word!r}")

    result = parse()
    if pos != len(tokens):
        raise SchemaError(f"type {text!r} has trailing text")
    return result


@dataclass(frozen=True)
class Column:
    name: str
    type_text: str
    description: str
    field: str | None = None  # the raw AWS field name; None for derived columns
    nullable: bool = True
    decode: str | None = None  # "url": percent-decoded exactly once at ingest
    derived: str | None = None  # how a derived column is computed, for the docs
    stats: bool = True  # min/max/null statistics in Parquet footers and the Delta log (file pruning)
    dictionary: bool = True  # Parquet dictionary encoding (off where nearly every value is distinct)

    @property
    def arrow_type(self) -> pa.DataType:
        return parse_type(self.type_text)


@dataclass(frozen=True)
class Schema:
    name: str
    description: str
    columns: tuple[Column, ...]
    partition_by: tuple[str, ...]
    reasons: tuple[tuple[str, str], ...] = ()  # (code, meaning) of reject reasons (the rejects table only)

    @functools.cached_property
    def by_name(self) -> dict[str, Column]:
        return {c.name: c for c in self.columns}

    @functools.cached_property
    def by_field(self) -> dict[str, Column]:
        """Raw AWS field name (as written in logs and configs) -> column."""
        return {c.field: c for c in self.columns if c.field is not None}

    @functools.cached_property
    def stats_columns(self) -> tuple[str, ...]:
        """Flat columns whose files carry min/max statistics (the table's ``delta.dataSkippingStatsColumns``).

        Statistics cost CPU at every write and space in the Delta log, and a range over random ids,
        user agents or query strings never excludes a file, so the schema turns them off there.
        """
        return tuple(
            c.name
            for c in self.columns
            if c.stats and c.name not in self.partition_by and not pa.types.is_nested(c.arrow_type)
        )

    def arrow_schema(self) -> pa.Schema:
        return pa.schema([pa.field(c.name, c.arrow_type, nullable=c.nullable) for c in self.columns])

    def column_for_field(self, field: str) -> Column:
        """The column a raw field lands in; unknown fields get a string column named after them."""
        known = self.by_field.get(field)
        if known is not None:
            return known
        name = column_name(field)
        known = self.by_name.get(name)
        if known is not None and known.field is not None:
            return known
        return Column(
            name=name,
            type_text="string",
            field=field,
            description=f"Field {field!r}, not in edgelake's schema yet; kept as text.",
        )


def _column(table: str, raw: dict[str, Any]) -> Column:
    allowed = {"name", "type", "description", "field", "nullable", "decode", "derived", "stats", "dictionary"}
    unknown = set(raw) - allowed
    if unknown:
        raise SchemaError(f"schemas/{table}.toml: column keys {sorted(unknown)} are not understood")
    try:
        col = Column(
            name=raw["name"],
            type_text=raw["type"],
            description=raw["description"],
            field=raw.get("field"),
            nullable=raw.get("nullable", True),
            decode=raw.get("decode"),
            derived=raw.get("derived"),
            stats=raw.get("stats", True),
            dictionary=raw.get("dictionary", True),
        )
    except KeyError as exc:
        raise SchemaError(f"schemas/{table}.toml: a column lacks {exc.args[0]!r}: {raw}") from exc
    col.arrow_type  # noqa: B018 - validate the type string at load time
    if col.field is not None and column_name(col.field) != col.name and col.name != "timestamp":
        raise SchemaError(
            f"schemas/{table}.toml: column {col.name!r} should be named "
            f"{column_name(col.field)!r} after its field {col.field!r}"
        )
    return col


@functools.cache
def load(table: str) -> Schema:
    """Load ``schemas/<table>.toml``."""
    path = resources.SCHEMA_DIR / f"{table}.toml"
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise SchemaError(f"no schema named {table!r} (looked for {path})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise SchemaError(f"{path}: {exc}") from exc
    cols = tuple(_column(table, c) for c in doc.get("column", []))
    names = [c.name for c in cols]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        raise SchemaError(f"{path}: duplicate columns {sorted(dupes)}")
    reasons = []
    for raw in doc.get("reason", []):
        if set(raw) != {"code", "description"}:
            raise SchemaError(f"{path}: a [[reason]] needs exactly a code and a description: {raw}")
        reasons.append((str(raw["code"]), str(raw["description"])))
    return Schema(
        name=doc.get("name", table),
        description=doc.get("description", ""),
        columns=cols,
        partition_by=tuple(doc.get("partition_by", [])),
        reasons=tuple(reasons),
    )


def table_names() -> list[str]:
    return sorted(p.stem for p in resources.SCHEMA_DIR.glob("*.toml"))
