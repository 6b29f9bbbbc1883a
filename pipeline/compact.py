"""Lake compaction: merge the many small files that hourly and 5-minute deliveries leave behind.

Owns: choosing what to compact (per table, only ``dt`` partitions older than a cutoff, so partitions
still being written today are left to the writers), Delta ``OPTIMIZE`` into well-sized zstd files,
``VACUUM`` with a retention that protects running readers, and a per-table summary. Each table's
compaction is one atomic Delta commit: readers see either the small files or the merged ones, never
both and never neither, and a reader holding an older snapshot keeps working because vacuum only
deletes files that left the table longer ago than the retention.

What compaction must preserve, and does by construction:

* rows: the commit removes files and adds files holding exactly their rows (checked per commit: the
  row count of the version before equals that of the compaction's version, from the log's stats);
* the application transaction ids the ingest relies on (Delta ``txn`` actions live in the snapshot,
  not in data files, and optimize keeps them);
* deletes by ``source_file`` (a re-ingested object's old rows are found in the merged files too).

Why a retention floor of one hour: a reader that opened snapshot N still reads the files N refers
to, after a compaction has removed them from the current version; and a full vacuum deletes every
file the log does not reference, which includes data files an ingest has written but not committed
yet. Both windows are minutes long; an hour is a margin, seven days (the default, Delta's own) also
keeps a week of time travel.

Must not: change rows, compact partitions younger than the cutoff, or run concurrently with a writer
that deletes rows (optimize conflicts with deletes and then fails without changing anything).
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from pipeline import schemas
from pipeline.errors import LakeError, UsageError
from pipeline.lake import ROW_GROUP_ROWS, STAT_CHARS, Lake

LOG_TABLES = ("cloudfront", "realtime", "waf", "rejects", "manifest", "rollup_minute")
DEFAULT_OLDER_THAN = timedelta(days=2)
DEFAULT_RETENTION = timedelta(days=7)  # Delta's default deletedFileRetentionDuration
MIN_RETENTION = timedelta(hours=1)
TARGET_SIZE = 128 << 20  # bytes per compacted file: a few row groups, one S3 GET range each
ZSTD_LEVEL = 3  # compaction runs off the hot path, so it can afford a better ratio than ingest's level 1
PARTITION = "dt"

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(w|d|h|m|s)?\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"w": 604_800, "d": 86_400, "h": 3_600, "m": 60, "s": 1}


def parse_duration(text: str) -> timedelta:
    """``"2d"``, ``"36h"``, ``"90m"``, ``"1w"``, ``"45s"`` or ``"0"`` as a timedelta."""
    found = _DURATION.match(text)
    if found is None or (found.group(2) is None and float(found.group(1)) != 0):
        raise UsageError(f"{text!r} is not a duration; write a number and a unit: 2d, 36h, 90m, 1w, 45s")
    unit = (found.group(2) or "s").lower()
    return timedelta(seconds=float(found.group(1)) * _UNIT_SECONDS[unit])


@dataclass
class TableCompaction:
    """What compacting one table did."""

    table: str
    partition_filter: str | None  # e.g. "dt < 2024-03-02"; None: the whole (unpartitioned) table
    files_before: int = 0
    files_after: int = 0
    rows_before: int = 0
    rows_after: int = 0
    bytes_before: int = 0
    bytes_after: int = 0
    files_removed: int = 0  # small files merged away by this run
    files_added: int = 0  # merged files written by this run
    partitions: int = 0  # partitions that had something to merge
    vacuumed: int = 0  # files deleted from storage (removed long enough ago, or never committed)
    version_before: int = 0
    version_after: int = 0
    seconds: float = 0.0

    def as_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["seconds"] = round(self.seconds, 3)
        return out


@dataclass
class CompactSummary:
    lake: str
    cutoff: date  # partitions with dt before this day were compacted
    retention_hours: int
    tables: list[TableCompaction] = field(default_factory=list)
    absent: list[str] = field(default_factory=list)  # tables asked for that the lake does not have
    seconds: float = 0.0

    def as_json(self) -> dict[str, Any]:
        return {
            "lake": self.lake,
            "cutoff": self.cutoff.isoformat(),
            "retention_hours": self.retention_hours,
            "tables": {t.table: t.as_json() for t in self.tables},
            "absent": self.absent,
            "seconds": round(self.seconds, 3),
        }


def _known_tables() -> list[str]:
    return sorted({*schemas.table_names(), *LOG_TABLES})


def compact(
    lake_uri: str,
    *,
    older_than: timedelta = DEFAULT_OLDER_THAN,
    tables: Sequence[str] | None = None,
    retention: timedelta = DEFAULT_RETENTION,
    target_size: int = TARGET_SIZE,
    now: datetime | None = None,
) -> CompactSummary:
    """Compact and vacuum the lake's log tables (or ``tables``); see the module docstring.

    Args:
        lake_uri: the lake root (a directory or an ``s3://`` prefix).
        older_than: only ``dt`` partitions whose whole day ended at least this long before ``now``
            are compacted (``0``: every day before today). Unpartitioned tables are compacted whole.
        tables: table names; default :data:`LOG_TABLES` (those the lake has).
        retention: files that left the table less than this long ago are kept for running readers;
            at least :data:`MIN_RETENTION`.
        target_size: approximate size of a compacted file in bytes.
        now: the current time (for tests); default: now, UTC.

    Returns:
        a :class:`CompactSummary` with one :class:`TableCompaction` per table compacted.
    """
    started = time.monotonic()
    if older_than < timedelta(0):
        raise UsageError("--older-than must not be negative")
    if retention < MIN_RETENTION:
        raise UsageError(
            "a vacuum retention under one hour could delete files that running readers and "
            "uncommitted ingests still need; use at least 1h (default 7d)"
        )
    if target_size < 1 << 20:
        raise UsageError("the target file size must be at least 1 MiB")
    wanted = list(tables) if tables else list(LOG_TABLES)
    unknown = [t for t in wanted if t not in _known_tables()]
    if unknown:
        raise UsageError(f"unknown table(s) {', '.join(unknown)}; choose from {', '.join(LOG_TABLES)}")
    now = now or datetime.now(UTC)
    # A dt partition holds one UTC day; it is old enough once its last instant is older_than ago.
    cutoff = (now - older_than).date()
    hours = math.ceil(retention / timedelta(hours=1))
    lake = Lake(lake_uri)
    summary = CompactSummary(lake.uri, cutoff, hours)
    for table in dict.fromkeys(wanted):
        dt = lake.open(table)
        if dt is None:
            summary.absent.append(table)
            continue
        summary.tables.append(compact_table(lake, table, cutoff=cutoff, retention_hours=hours, target_size=target_size))
    summary.seconds = time.monotonic() - started
    return summary


def _census(dt: Any) -> tuple[int, int, int]:
    """(files, rows, bytes) of a snapshot, from the log's add actions (rows counted when stats lack them)."""
    import polars as pl
    import pyarrow as pa
    import pyarrow.compute as pc

    adds = pa.table(dt.get_add_actions(flatten=False))
    files = adds.num_rows
    size = int(pc.sum(adds.column("size_bytes")).as_py() or 0)
    records = adds.column("num_records")
    if records.null_count:
        rows = int(pl.scan_delta(dt).select(pl.len()).collect().item())
    else:
        rows = int(pc.sum(records).as_py() or 0)
    return files, rows, size


def compact_table(
    lake: Lake, table: str, *, cutoff: date, retention_hours: int, target_size: int = TARGET_SIZE
) -> TableCompaction:
    """Optimize one table's partitions before ``cutoff`` (all of it when it has no ``dt``), then vacuum."""
    from deltalake import DeltaTable, WriterProperties

    started = time.monotonic()
    dt = lake.open(table)
    if dt is None:
        raise LakeError(f"the lake at {lake.uri} has no table {table!r} to compact")
    partitioned = PARTITION in dt.metadata().partition_columns
    filters = [(PARTITION, "<", cutoff.isoformat())] if partitioned else None
    out = TableCompaction(table, f"{PARTITION} < {cutoff.isoformat()}" if partitioned else None)
    out.version_before = dt.version()
    out.files_before, out.rows_before, out.bytes_before = _census(dt)
    props = WriterProperties(
        compression="ZSTD",
        compression_level=ZSTD_LEVEL,
        max_row_group_size=ROW_GROUP_ROWS,
        statistics_truncate_length=STAT_CHARS,
    )
    uri = lake.table_uri(table)
    try:
        metrics = dt.optimize.compact(partition_filters=filters, target_size=target_size, writer_properties=props)
    except Exception as exc:  # deltalake raises several unrelated types; all mean the same here
        raise LakeError(
            f"compacting {uri} failed and changed nothing: {exc}; if a writer was deleting rows "
            "at the same time, run the compaction again"
        ) from exc
    out.files_removed = int(metrics.get("numFilesRemoved", 0))
    out.files_added = int(metrics.get("numFilesAdded", 0))
    out.partitions = int(metrics.get("partitionsOptimized", 0))
    committed = dt.version()
    if committed > out.version_before:
        # The compaction's own commit must not change the row count. Compare it with the version
        # just before it (not with the start, so that a concurrent append does not look like a gain).
        before = DeltaTable(uri, version=committed - 1, storage_options=lake.storage_options)
        rows_then, rows_now = _census(before)[1], _census(dt)[1]
        if rows_then != rows_now:
            raise LakeError(
                f"compacting {uri} changed its row count from {rows_then} to {rows_now} in "
                f"version {committed}; this is a bug, please report it (the previous version "
                "is still readable with time travel)"
            )
    try:
        # Full mode also deletes files no version references (left by ingests that died before their
        # commit), but only those older than the retention, like the files removed by compactions.
        deleted = dt.vacuum(
            retention_hours=retention_hours,
            dry_run=False,
            enforce_retention_duration=retention_hours >= DEFAULT_RETENTION / timedelta(hours=1),
            full=True,
        )
    except Exception as exc:
        raise LakeError(f"vacuuming {uri} failed (the compaction itself is committed): {exc}") from exc
    out.vacuumed = len(deleted)
    dt = lake.open(table)
    assert dt is not None
    out.version_after = dt.version()
    out.files_after, out.rows_after, out.bytes_after = _census(dt)
    out.seconds = time.monotonic() - started
    return out
