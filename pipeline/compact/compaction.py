"""Lake compaction: merge the many small files that hourly and 5-minute deliveries leave behind.

Owns: choosing what to compact (per table, only ``dt`` partitions older than a cutoff, so partitions
still being written today are left to the writers), Delta ``OPTIMIZE`` into well-sized zstd files,
``VACUUM`` with a retention that protects running readers, and a per-table summary. Each table's
compaction is one atomic Delta commit: readers see either the small files or the merged ones, never
both and never neither, and a reader holding an older snapshot keeps working because vacuum only
deletes files that left the table longer ago than the retention.

What compaction must preserve, and does by construction:

* rows: the commit removes files and adds files holding exactly their rows (checked per commit: the
  row count of the version before equals that of the compaction's own version, found in the history
  by a mark in its commit metadata, so appends by other writers around it do not count);
* the application transaction ids the ingest relies on (Delta ``txn`` actions live in the snapshot,
  not in data files, and optimize keeps them);
* deletes by ``source_file`` (a re-ingested object's old rows are found in the merged files too).

Why a retention floor of one hour: a reader that opened snapshot N still reads the files N refers
to, after a compaction has removed them from the current version; and a full vacuum deletes every
file the log does not reference, which includes data files an ingest has written but not committed
yet. Both windows are minutes long; an hour is a margin, seven days (the default, Delta's own) also
keeps a week of time travel.

Other writers may commit meanwhile. Appends never conflict with the rewrite (delta-rs rebases it onto
them); a delete that touched a file being merged makes the rewrite lose, and it is planned again from
a fresh snapshot until it wins or :mod:`pipeline.lake.concurrency`'s deadline passes (then nothing changed).
Two compactions take turns per table through a claim in the table's log (:class:`_Claim`): delta-rs
would let two rewrites of the same files both land, and their rows would be there twice.

Must not: change rows, or compact partitions younger than the cutoff.
"""

from __future__ import annotations

import math
import random
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from pipeline import crashpoints, schemas
from pipeline.compact import order
from pipeline.errors import LakeError, UsageError
from pipeline.lake import Lake
from pipeline.lake.concurrency import lost_races, retry_conflicts
from pipeline.lake.files import ROW_GROUP_ROWS, STAT_CHARS

LOG_TABLES = ("cloudfront", "realtime", "waf", "rejects", "manifest", "rollup_minute")
DEFAULT_OLDER_THAN = timedelta(days=2)
DEFAULT_RETENTION = timedelta(days=7)  # Delta's default deletedFileRetentionDuration
MIN_RETENTION = timedelta(hours=1)
TARGET_SIZE = 128 << 20  # bytes per compacted file: a few row groups, one S3 GET range each
ZSTD_LEVEL = 3  # compaction runs off the hot path, so it can afford a better ratio than ingest's level 1
PARTITION = "dt"
COMPACTION_MARK = "edgelake.compaction"  # commit metadata key: which compaction wrote the commit
COMPACTION_APP = "edgelake-compaction"  # application transaction id of a table's compaction claim
CLAIM_LEASE = timedelta(hours=6)  # a claim this old is a dead compaction's, taken over


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
    retries: int = 0  # commits that lost a race to another writer and were made again
    skipped: str | None = None  # why nothing was merged although there was work (another compaction held it)
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


def _marked_version(lake: Lake, table: str, mark: str, *, since: int) -> int | None:
    """The version of ``table`` whose commit carries this compaction's ``mark`` (None: none after ``since``).

    Read from the log files themselves: delta-rs' ``history()`` numbers its entries from the snapshot's
    version but reads the newest commits, so with another writer committing in between it puts the
    mark on the wrong version (seen with deltalake 1.6).
    """
    import json

    log = f"{lake.table_path(table)}/_delta_log"
    version = since + 1
    while True:
        try:
            with lake.fs.open(f"{log}/{version:020d}.json", "rb") as fh:
                lines = fh.read().decode("utf-8").splitlines()
        except FileNotFoundError:
            return None
        for line in lines:
            info = json.loads(line).get("commitInfo") if line.strip() else None
            if isinstance(info, dict) and info.get(COMPACTION_MARK) == mark:
                return version
        version += 1


def _has_work(dt: Any, filters: list[tuple[str, str, str]] | None, target_size: int) -> bool:
    """True when some partition in range holds two or more files under ``target_size``: what optimize merges.

    Checked first so that a compaction with nothing to merge commits nothing (not even its claim).
    """
    import polars as pl
    import pyarrow as pa

    adds = pl.from_arrow(pa.table(dt.get_add_actions(flatten=True)))
    assert isinstance(adds, pl.DataFrame)
    small = adds.filter(pl.col("size_bytes") < target_size)
    part = f"partition.{PARTITION}"
    if filters and part in small.columns:
        small = small.filter(pl.col(part).cast(pl.String) < filters[0][2])
    if small.height < 2:
        return False
    if part not in small.columns:
        return True
    return bool((small.group_by(part).len().get_column("len") >= 2).any())


class _Claim:
    """This compaction's hold on one table, kept in the table's own log as an application transaction.

    delta-rs does not notice two optimizes removing the same files at once (both commits land and the
    merged rows are there twice; seen with deltalake 1.6), so compactions take turns per table. The
    claim is an empty commit recording ``(COMPACTION_APP, odd version)``; a second compaction that
    commits its claim at the same moment loses the race (same app id) and, reading again, sees the
    table held. The version encodes when it was claimed (milliseconds << 20, plus random low bits so
    two claims never share a version); the release records the next even version. A claim older than
    :data:`CLAIM_LEASE` belongs to a compaction that died, and is taken over.
    """

    def __init__(self, lake: Lake, table: str) -> None:
        self.lake, self.table = lake, table
        self.version: int | None = None  # ours, once committed
        self.held_since: datetime | None = None  # another compaction's claim, when we found one

    def take(self) -> bool:
        now_ms = int(time.time() * 1000)
        wanted = ((now_ms << 20) | random.getrandbits(20)) * 2 + 1

        def attempt() -> bool:
            dt = self.lake.open(self.table)
            assert dt is not None
            held = dt.transaction_version(COMPACTION_APP) or 0
            if held == wanted:
                return True  # our claim landed; only its answer was lost
            since_ms = (held // 2) >> 20
            if held % 2 == 1 and now_ms - since_ms < CLAIM_LEASE / timedelta(milliseconds=1):
                self.held_since = datetime.fromtimestamp(since_ms / 1000, UTC)
                return False
            _empty_commit(dt, wanted)
            return True

        if retry_conflicts(f"claiming {self.lake.table_uri(self.table)} for compaction", attempt):
            self.version = wanted
        return self.version is not None

    def release(self) -> None:
        if self.version is None:
            return
        mine = self.version

        def attempt() -> None:
            dt = self.lake.open(self.table)
            assert dt is not None
            if (dt.transaction_version(COMPACTION_APP) or 0) == mine:  # not taken over meanwhile
                _empty_commit(dt, mine + 1)

        retry_conflicts(f"releasing {self.lake.table_uri(self.table)} after compaction", attempt)
        self.version = None


def _empty_commit(dt: Any, version: int) -> None:
    """A commit with no files that records ``(COMPACTION_APP, version)``."""
    import pyarrow as pa
    from deltalake import CommitProperties, Transaction

    dt.create_write_transaction(
        [],
        mode="append",
        schema=pa.schema(dt.schema().to_arrow()),
        partition_by=dt.metadata().partition_columns or None,
        commit_properties=CommitProperties(app_transactions=[Transaction(COMPACTION_APP, version)]),
    )


def compact_table(
    lake: Lake, table: str, *, cutoff: date, retention_hours: int, target_size: int = TARGET_SIZE
) -> TableCompaction:
    """Optimize one table's partitions before ``cutoff`` (all of it when it has no ``dt``), then vacuum."""
    started = time.monotonic()
    dt = lake.open(table)
    if dt is None:
        raise LakeError(f"the lake at {lake.uri} has no table {table!r} to compact")
    partitioned = PARTITION in dt.metadata().partition_columns
    filters = [(PARTITION, "<", cutoff.isoformat())] if partitioned else None
    out = TableCompaction(table, f"{PARTITION} < {cutoff.isoformat()}" if partitioned else None)
    out.version_before = dt.version()
    out.files_before, out.rows_before, out.bytes_before = _census(dt)
    lake.check_writable()
    races_before = lost_races()
    claim = _Claim(lake, table)
    if _has_work(dt, filters, target_size) and not claim.take():
        assert claim.held_since is not None
        out.skipped = (
            f"another compaction has held this table since {claim.held_since:%Y-%m-%d %H:%M:%S} UTC; "
            "it was left to that one"
        )
    try:
        if claim.version is not None:
            _rewrite(lake, table, out, filters, target_size)
        out.vacuumed = _vacuum(lake, table, retention_hours)
    finally:
        claim.release()
    out.retries = lost_races() - races_before
    dt = lake.open(table)
    assert dt is not None
    out.version_after = dt.version()
    out.files_after, out.rows_after, out.bytes_after = _census(dt)
    out.seconds = time.monotonic() - started
    return out


def _rewrite(
    lake: Lake, table: str, out: TableCompaction, filters: list[tuple[str, str, str]] | None, target_size: int
) -> None:
    """Merge the table's small files (one optimize commit), and check that the commit kept every row."""
    from deltalake import CommitProperties, DeltaTable, WriterProperties

    props = WriterProperties(
        compression="ZSTD",
        compression_level=ZSTD_LEVEL,
        max_row_group_size=ROW_GROUP_ROWS,
        statistics_truncate_length=STAT_CHARS,
    )
    uri = lake.table_uri(table)
    # The commit carries a mark of its own, so that the row check below finds this compaction's
    # version even when other writers committed before and after it.
    mark = uuid.uuid4().hex
    metrics: dict[str, Any] = {}

    def rewrite() -> None:
        # A fresh snapshot each try: a concurrent delete (a re-ingested object's old rows) makes the
        # rewrite of the files it touched lose the race; planned again, it merges the files as they are now.
        nonlocal metrics
        current = lake.open(table)
        assert current is not None
        crashpoints.reached(f"commit-snapshot-{table}")
        metrics = order.merge(  # time-sorted within each partition it rewrites
            current,
            filters=filters,
            target_size=target_size,
            writer_properties=props,
            commit_properties=CommitProperties(custom_metadata={COMPACTION_MARK: mark}),
        )

    try:
        retry_conflicts(f"compacting {uri}", rewrite)
    except LakeError:
        raise
    except Exception as exc:  # deltalake raises several unrelated types; all mean the same here
        raise LakeError(f"compacting {uri} failed and changed nothing: {exc}") from exc
    crashpoints.reached(f"compaction-committed-{table}")
    out.files_removed = int(metrics.get("numFilesRemoved", 0))
    out.files_added = int(metrics.get("numFilesAdded", 0))
    out.partitions = int(metrics.get("partitionsOptimized", 0))
    committed = _marked_version(lake, table, mark, since=out.version_before)
    if committed is not None:
        # The compaction's own commit must not change the row count: compare it with the version
        # just before it, whatever other writers committed around it.
        before = DeltaTable(uri, version=committed - 1, storage_options=lake.storage_options)
        after = DeltaTable(uri, version=committed, storage_options=lake.storage_options)
        rows_then, rows_now = _census(before)[1], _census(after)[1]
        if rows_then != rows_now:
            raise LakeError(
                f"compacting {uri} changed its row count from {rows_then} to {rows_now} in "
                f"version {committed}; this is a bug, please report it (the previous version "
                "is still readable with time travel)"
            )
    elif out.files_removed:
        raise LakeError(
            f"compacting {uri} reported {out.files_removed} file(s) merged but its commit is not in "
            "the table's history; this is a bug, please report it"
        )


def _vacuum(lake: Lake, table: str, retention_hours: int) -> int:
    """Delete files that left the table (or were never committed) longer than the retention ago."""
    uri = lake.table_uri(table)

    def sweep() -> list[str]:
        current = lake.open(table)
        assert current is not None
        # Full mode also deletes files no version references (left by ingests that died before their
        # commit), but only those older than the retention, like the files removed by compactions.
        return list(
            current.vacuum(
                retention_hours=retention_hours,
                dry_run=False,
                full=True,
                enforce_retention_duration=retention_hours >= DEFAULT_RETENTION / timedelta(hours=1),
            )
        )

    try:
        return len(retry_conflicts(f"vacuuming {uri}", sweep))
    except Exception as exc:
        raise LakeError(f"vacuuming {uri} failed (the compaction itself is committed): {exc}") from exc
