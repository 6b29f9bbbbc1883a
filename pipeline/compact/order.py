"""The merge step of compaction, leaving each partition's rows in time order.

Why: a one-hour question over a month of data should read one hour of data. ``dt`` partitions skip the
other days; inside a day, only statistics can skip, and they only can if the files and row groups hold
disjoint time ranges. Ingested files do not: a delivery holds a few percent of late lines from
anywhere in the day, so every file's timestamp range spans the day, and plain merging keeps that. So
for a table with a ``timestamp`` column the merge is delta-rs' Z-order rewrite over that one column,
which is a sort (the Z-order key of a single column is its order-preserving row encoding): every
output file and row group then covers its own slice of the day, and the Delta log's per-file and the
Parquet footers' per-row-group statistics prune a window down to that slice.

Sorting rewrites every file of a partition it touches, so only partitions that have something to merge
(two or more files under the target size: what a plain compaction would merge) are sorted; a
partition left as one sorted file and a small remainder is not rewritten again. Tables without a
timestamp are merged as before.

Must not: change rows, or touch partitions outside ``filters``. The commit and its retries stay with
:mod:`pipeline.compact.compaction`.
"""

from __future__ import annotations

from typing import Any

SORT_COLUMN = "timestamp"
PARTITION = "dt"
# Bytes the sort may hold in memory before it spills to disk (DataFusion's spill): keeps compaction's
# memory bounded whatever a day holds (a 10M-row day is ~1.3 GB of Arrow data in memory unsorted).
SORT_MEMORY = 512 << 20


def partitions_to_sort(dt: Any, filters: list[tuple[str, str, Any]] | None, target_size: int) -> list[str]:
    """The ``dt`` values in range holding two or more files under ``target_size``."""
    import polars as pl
    import pyarrow as pa

    adds = pl.from_arrow(pa.table(dt.get_add_actions(flatten=True)))
    assert isinstance(adds, pl.DataFrame)
    part = f"partition.{PARTITION}"
    if part not in adds.columns:
        return []
    small = adds.filter(pl.col("size_bytes") < target_size).with_columns(pl.col(part).cast(pl.String))
    for column, op, value in filters or []:
        if column == PARTITION and op == "<":
            small = small.filter(pl.col(part) < value)
    counts = small.group_by(part).len().filter(pl.col("len") >= 2)
    return sorted(counts.get_column(part).to_list())


def merge(
    dt: Any,
    *,
    filters: list[tuple[str, str, Any]] | None,
    target_size: int,
    writer_properties: Any,
    commit_properties: Any,
) -> dict[str, Any]:
    """Optimize ``dt``'s partitions in ``filters``: time-sorted when it has a timestamp, merged otherwise."""
    names = {field.name for field in dt.schema().fields}
    partitioned = PARTITION in dt.metadata().partition_columns
    if SORT_COLUMN in names and partitioned:
        parts = partitions_to_sort(dt, filters, target_size)
        if parts:
            metrics: dict[str, Any] = dt.optimize.z_order(
                [SORT_COLUMN],
                partition_filters=[*(filters or []), (PARTITION, "in", parts)],
                target_size=target_size,
                max_spill_size=SORT_MEMORY,
                writer_properties=writer_properties,
                commit_properties=commit_properties,
            )
            return metrics
    metrics = dt.optimize.compact(
        partition_filters=filters,
        target_size=target_size,
        writer_properties=writer_properties,
        commit_properties=commit_properties,
    )
    return metrics
