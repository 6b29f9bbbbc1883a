"""Preflight: does every table of the lake still meet the floor that Athena, Trino and Spark all read?

edgelake's compatibility floor, checked per table:

- the Delta protocol is reader 1 / writer 2 without table features (every version of every engine reads
  it; a feature such as deletion vectors or column mapping, once enabled by another writer, stays);
- the Delta schema has only types every engine maps (no ``timestamp_ntz``, no unknown types), its
  column names are lower-case letters, digits and underscores (Glue and Hive metastores fold the rest),
  and partition columns have a type Athena accepts for partitions;
- data files say the same in their Parquet footers: integers signed, timestamps stored as INT64
  microseconds adjusted to UTC (no INT96, no milli- or nanoseconds), each column of the type the Delta
  schema declares. Footers are read directly, for a sample of each table's files (the oldest, the
  newest and evenly spaced ones between), since a file written by another tool can break a reader
  while the log still looks right.

Each problem is a :class:`Finding` naming the table, the column and what to do. Reading a footer costs
one ranged read of its last 64 KiB (~20-50 ms on S3), so the default sample of 8 files per table keeps
a preflight of the 11 tables near a second or two on S3.

Must not: change the lake (it only reads), print, or decide exit codes (the CLI does).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline import schemas
from pipeline.errors import LakeError
from pipeline.lake import Lake

READER_FLOOR = 1
WRITER_FLOOR = 2
SAMPLE_FILES = 8
FOOTER_READ = 1 << 16  # pyarrow reads the last 64 KiB of a file for its footer in one request

# Delta primitive types every engine maps (Athena, Trino, Spark); decimals are checked by prefix.
_PORTABLE = {"string", "long", "integer", "short", "byte", "float", "double", "boolean", "binary", "date", "timestamp"}
# Partition column types Athena accepts for Delta tables (its documentation's list, in Delta's names).
_PARTITION_TYPES = {"boolean", "byte", "short", "integer", "long", "float", "double", "date", "timestamp", "string"}
_NAME = re.compile(r"[a-z_][a-z0-9_]*")

_REWRITE = (
    "rewrite the affected files{how} with a writer that follows the table's schema (re-ingest their sources into "
    "a fresh lake), then run the preflight again"
)


@dataclass(frozen=True)
class Finding:
    """One way a table falls below the floor, written for the person who has to fix it."""

    table: str
    column: str | None
    problem: str
    fix: str

    def __str__(self) -> str:
        where = self.table if self.column is None else f"{self.table}, column {self.column}"
        return f"{where}: {self.problem}. {self.fix[:1].upper()}{self.fix[1:]}"


@dataclass
class Report:
    """What a preflight looked at and what it found; ``ok`` when nothing."""

    tables: list[str] = field(default_factory=list)
    files_read: int = 0
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings


def preflight(lake: Lake, *, sample: int = SAMPLE_FILES) -> Report:
    """Check every table of ``lake`` (those :func:`pipeline.schemas.table_names` lists that exist)."""
    report = Report()
    for name in schemas.table_names():
        dt = lake.open(name)
        if dt is None:
            continue
        report.tables.append(name)
        report.findings.extend(check_log(name, dt))
        files, found = check_footers(lake, name, dt, sample=sample)
        report.files_read += files
        report.findings.extend(found)
    return report


# --- the Delta log -------------------------------------------------------------------------------------
def check_log(table: str, dt: Any) -> list[Finding]:
    """Protocol, column names and types, partition column types, from the table's Delta log."""
    out = _check_protocol(table, dt.protocol())
    for path, name, type_name in _leaves(dt.schema().fields):
        if name is not None and not _NAME.fullmatch(name):
            out.append(
                Finding(
                    table,
                    path,
                    f"the name {name!r} is not lower-case letters, digits and underscores",
                    "Glue and Hive metastores fold names to lower case and Athena refuses other characters, so "
                    "the column would not be found by name; rewrite the table with a lower-case name (Delta "
                    "column mapping would rename it but raises the protocol above the floor)",
                )
            )
        if type_name == "timestamp_ntz":
            out.append(
                Finding(
                    table,
                    path,
                    "its type is timestamp_ntz (a local time without zone), not an instant",
                    "instants belong in UTC `timestamp` columns (what edgelake writes); rewrite the column as UTC "
                    "timestamps",
                )
            )
        elif type_name is not None and type_name not in _PORTABLE and not type_name.startswith("decimal"):
            out.append(
                Finding(
                    table,
                    path,
                    f"its type {type_name} is not one every engine reads",
                    "rewrite the column with a type from schemas/*.toml (string, integers, floats, bool, date, "
                    "timestamp, lists and structs of them)",
                )
            )
    types = {f.name: f.type for f in dt.schema().fields}
    for part in dt.metadata().partition_columns:
        kind = getattr(types.get(part), "type", None)
        if not isinstance(kind, str) or (kind not in _PARTITION_TYPES and not kind.startswith("decimal")):
            out.append(
                Finding(
                    table,
                    part,
                    f"it partitions the table but its type ({kind or type(types.get(part)).__name__}) is not one "
                    "Athena accepts for partition columns",
                    "partition by a string, date or integer column (Athena also takes boolean, floating point, "
                    "decimal and timestamp); rewrite the table with such a partition column",
                )
            )
    return out


def _check_protocol(table: str, protocol: Any) -> list[Finding]:
    reader, writer = protocol.min_reader_version, protocol.min_writer_version
    features = sorted(set(protocol.reader_features or []) | set(protocol.writer_features or []))
    if reader <= READER_FLOOR and writer <= WRITER_FLOOR and not features:
        return []
    with_features = f" with the table features {', '.join(features)}" if features else ""
    return [
        Finding(
            table,
            None,
            f"its Delta protocol is reader {reader} / writer {writer}{with_features}; edgelake's floor is reader "
            f"{READER_FLOOR} / writer {WRITER_FLOOR} without table features, which every version of Athena, "
            "Trino and Spark reads",
            "a writer other than edgelake raised it, and a protocol is never lowered by itself: remove the "
            "features with Spark (ALTER TABLE ... DROP FEATURE, Delta 3.0 or later) or rebuild the table by "
            "ingesting its sources into a fresh lake",
        )
    ]


def _leaves(fields: Any) -> Iterator[tuple[str, str | None, str | None]]:
    """(path, field name, Delta type name) for every field and every list or map element, nested ones too.

    Elements have no name of their own (None); containers have no type name (None). Paths read
    ``headers[].name`` for a field of a list's struct elements.
    """
    for f in fields:
        yield from _walk(f.type, f.name, f.name)


def _walk(kind: Any, path: str, name: str | None) -> Iterator[tuple[str, str | None, str | None]]:
    cls = type(kind).__name__
    if cls == "PrimitiveType":
        yield path, name, str(kind.type)
        return
    if cls not in ("StructType", "ArrayType", "MapType"):
        yield path, name, cls
        return
    yield path, name, None
    if cls == "StructType":
        for f in kind.fields:
            yield from _walk(f.type, f"{path}.{f.name}", f.name)
    elif cls == "ArrayType":
        yield from _walk(kind.element_type, f"{path}[]", None)
    else:
        yield from _walk(kind.key_type, f"{path}{{key}}", None)
        yield from _walk(kind.value_type, f"{path}{{value}}", None)


# --- the data files' footers ---------------------------------------------------------------------------
def sample_files(dt: Any, sample: int) -> list[str]:
    """Relative paths of up to ``sample`` data files: the newest, the oldest and others spread evenly between.

    The newest files come first in importance: a writer that drifted shows in what it wrote last.
    """
    actions = pa.table(dt.get_add_actions(flatten=False)).select(["path", "modification_time"])
    rows = sorted(zip(*(c.to_pylist() for c in actions.columns), strict=True), key=lambda r: (r[1], r[0]))
    last = len(rows) - 1
    if len(rows) > sample:
        picks = {last - round(i * last / (sample - 1)) for i in range(sample)} if sample > 1 else {last}
        rows = [rows[i] for i in sorted(picks)]
    return [path for path, _ in rows]


def _footer(lake: Lake, table: str, path: str) -> pq.FileMetaData:
    path = unquote(path)  # the Delta log holds paths URI-encoded (a partition value may hold any character)
    uri = path if "://" in path else f"{lake.table_uri(table)}/{path}"
    try:
        if not lake.is_s3:
            return pq.read_metadata(uri.removeprefix("file://"))
        with lake.fs.open(uri, "rb", block_size=FOOTER_READ) as fh:
            return pq.read_metadata(fh)
    except (OSError, ValueError) as exc:  # pyarrow raises ArrowInvalid (a ValueError) for a bad footer
        raise LakeError(f"cannot read the Parquet footer of {uri}: {exc}") from exc


def check_footers(lake: Lake, table: str, dt: Any, *, sample: int = SAMPLE_FILES) -> tuple[int, list[Finding]]:
    """Read the footers of a sample of ``table``'s data files; return how many were read and the findings."""
    expected = pa.schema(dt.schema().to_arrow())
    partitions = set(dt.metadata().partition_columns)
    # (column, problem) -> files showing it, so a problem in every file is one finding, not one per file
    seen: dict[tuple[str, str], list[str]] = {}
    files = sample_files(dt, max(sample, 1))
    for path in files:
        meta = _footer(lake, table, path)
        written_by = meta.created_by or "an unnamed writer"
        flagged: set[str] = set()
        for column, problem in _leaf_problems(meta):
            flagged.add(column.split(".", 1)[0])
            seen.setdefault((column, problem), []).append(f"{path}, written by {written_by}")
        actual = meta.schema.to_arrow_schema()
        for f in actual:
            if f.name in flagged or f.name in partitions or f.name not in expected.names:
                continue
            want = expected.field(f.name).type
            if not _same_type(f.type, want):
                problem = f"a data file stores it as {f.type} where the Delta schema says {want}"
                seen.setdefault((f.name, problem), []).append(f"{path}, written by {written_by}")
    findings = []
    for (column, problem), where in seen.items():
        more = f"; and {len(where) - 1} more of the {len(files)} files read" if len(where) > 1 else ""
        findings.append(Finding(table, column, f"{problem} ({where[0]}{more})", _fix_for(problem)))
    return len(files), findings


def _leaf_problems(meta: pq.FileMetaData) -> Iterator[tuple[str, str]]:
    """Problems of single Parquet columns, whatever the Delta schema says: INT96, unsigned, timestamp units."""
    for i in range(len(meta.schema)):
        col = meta.schema.column(i)
        logical = json.loads(col.logical_type.to_json())
        kind = logical.get("Type")
        converted = str(col.converted_type)
        if col.physical_type == "INT96":
            yield col.path, "a data file stores it as INT96, the legacy timestamp encoding engines read differently"
        elif (kind == "Int" and logical.get("isSigned") is False) or converted.startswith("UINT"):
            width = logical.get("bitWidth", converted.removeprefix("UINT_"))
            yield col.path, f"a data file stores it as an unsigned {width}-bit integer"
        elif kind == "Timestamp":
            unit, utc = logical.get("timeUnit"), logical.get("isAdjustedToUTC")
            if unit != "microseconds" or utc is not True:
                zone = "adjusted to UTC" if utc else "not adjusted to UTC (a local time)"
                yield col.path, f"a data file stores it as a timestamp in {unit}, {zone}"


def _fix_for(problem: str) -> str:
    if "unsigned" in problem:
        return (
            "Delta has no unsigned integers: Spark refuses such files and Athena and Trino read values past the "
            "signed range wrongly; " + _REWRITE.format(how=", cast to the signed type the schema declares,")
        )
    if "INT96" in problem:
        return "Each engine applies its own time zone rules to INT96 values; " + _REWRITE.format(
            how=", timestamps as INT64 microseconds in UTC,"
        )
    if "timestamp in" in problem:
        return (
            "The floor is INT64 microseconds adjusted to UTC: Spark refuses nanoseconds and reads a local time "
            "as another instant; " + _REWRITE.format(how=", timestamps as INT64 microseconds in UTC,")
        )
    return "Readers fail on or misread a column whose file type differs from the table's; " + _REWRITE.format(how="")


def _same_type(actual: pa.DataType, want: pa.DataType) -> bool:
    """Whether a file's column type reads as the table's: string and list layouts aside, types must be equal."""
    if _is_string(actual) and _is_string(want):
        return True
    if _is_binary(actual) and _is_binary(want):
        return True
    if _is_list(actual) and _is_list(want):
        return _same_type(actual.value_type, want.value_type)
    if pa.types.is_struct(actual) and pa.types.is_struct(want):
        names = {want.field(i).name: want.field(i).type for i in range(want.num_fields)}
        return all(
            _same_type(actual.field(i).type, names[actual.field(i).name])
            for i in range(actual.num_fields)
            if actual.field(i).name in names  # a field added to the table later is missing in older files
        )
    if pa.types.is_map(actual) and pa.types.is_map(want):
        return _same_type(actual.key_type, want.key_type) and _same_type(actual.item_type, want.item_type)
    return bool(actual.equals(want))


def _is_string(t: pa.DataType) -> bool:
    return bool(pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t))


def _is_binary(t: pa.DataType) -> bool:
    return bool(pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_binary_view(t))


def _is_list(t: pa.DataType) -> bool:
    return bool(pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_list_view(t))
