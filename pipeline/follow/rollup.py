"""The follower's per-minute rollup: requests, cacheable, hits and bytes per minute, distribution, behavior,
origin key and status, so a dashboard reads a small table instead of raw rows.

Each micro-batch appends the aggregate of its own rows (partial aggregates: a minute spread over two
batches has two rows, summed when read), never an update in place, so it never conflicts with other
writers. "Cacheable" and "hit" are :mod:`pipeline.definitions`' (the SQL views' definitions).

Must not: read sources or commit (the loop does).
"""

from __future__ import annotations

import polars as pl

from pipeline import schemas
from pipeline.definitions import cache_flags
from pipeline.readers._typing import conform

ROLLUP = "rollup_minute"
ROLLUP_KEYS = ("minute", "distribution_id", "behavior", "origin", "sc_status")
ROLLUP_SUMS = ("requests", "cacheable", "hits", "bytes")


def rollup(rows: pl.DataFrame | pl.LazyFrame) -> pl.DataFrame:
    """Aggregate real-time rows per minute, distribution, behavior, origin key and status."""
    frame = rows.lazy().select(
        pl.col("timestamp").dt.truncate("1m").alias("minute"),
        pl.col("distribution_id"),
        pl.col("cache_behavior_path_pattern").fill_null("unknown").alias("behavior"),
        pl.col("x_host_header").fill_null("unknown").alias("origin"),
        pl.col("sc_status"),
        pl.col("sc_bytes"),
        # the names cache_flags expects (edge_requests' columns), so "cacheable" means one thing everywhere
        pl.col("cs_method").alias("method"),
        pl.col("x_edge_response_result_type").alias("response_result_type"),
        pl.col("cs_protocol").alias("protocol"),
        pl.col("x_edge_detailed_result_type").alias("detailed_result_type"),
    )
    agg = (
        cache_flags(frame)
        .group_by(list(ROLLUP_KEYS))
        .agg(
            pl.len().cast(pl.Int64).alias("requests"),
            pl.col("cacheable").sum().cast(pl.Int64),
            (pl.col("cacheable") & pl.col("hit")).sum().cast(pl.Int64).alias("hits"),
            pl.col("sc_bytes").fill_null(0).sum().cast(pl.Int64).alias("bytes"),
        )
    )
    return _conform_rollup(agg.collect())


def merge_rollups(parts: list[pl.DataFrame]) -> pl.DataFrame:
    if not parts:
        return _conform_rollup(pl.DataFrame())
    merged = pl.concat(parts).group_by(list(ROLLUP_KEYS)).agg(pl.col(list(ROLLUP_SUMS)).sum())
    return _conform_rollup(merged.sort(list(ROLLUP_KEYS), nulls_last=True))


def _conform_rollup(frame: pl.DataFrame) -> pl.DataFrame:
    if "minute" in frame.columns:
        frame = frame.with_columns(pl.col("minute").dt.date().alias("dt"))
    return conform(frame, schemas.load(ROLLUP))
