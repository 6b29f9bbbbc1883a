"""Polars twins of ``sql/hit-ratio.sql`` and ``sql/hit-ratio-regressions.sql`` (definitions live there)."""

from __future__ import annotations

from datetime import datetime

import polars as pl

from pipeline.analyses.requests import resolved_requests
from pipeline.definitions import cache_flags
from pipeline.lake import Lake


def bucket_expr(bucket: str | None) -> pl.Expr:
    if bucket == "minute":
        return pl.col("timestamp").dt.truncate("1m")
    if bucket == "hour":
        return pl.col("timestamp").dt.truncate("1h")
    if bucket == "day":
        return pl.col("timestamp").dt.truncate("1d")
    return pl.lit(None, pl.Datetime("us", "UTC"))


def _ratio(num: pl.Expr, den: pl.Expr) -> pl.Expr:
    return pl.when(den > 0).then(num.cast(pl.Float64) / den.cast(pl.Float64))


def _sum_where(values: pl.Expr, mask: pl.Expr) -> pl.Expr:
    """SQL ``sum(x) FILTER (WHERE mask)``: NULL when no non-null value qualifies."""
    picked = values.filter(mask)
    return pl.when(picked.count() > 0).then(picked.sum())


def hit_ratio(
    lake: Lake, *, start: datetime | None, end: datetime | None, distribution: str | None, log: str, bucket: str | None
) -> pl.DataFrame:
    req = cache_flags(resolved_requests(lake, log, start, end, distribution)).with_columns(
        bucket_expr(bucket).alias("bucket_start")
    )
    cacheable, hit = pl.col("cacheable"), pl.col("hit")
    out = (
        req.group_by("bucket_start", "distribution_id", "behavior")
        .agg(
            pl.len().cast(pl.Int64).alias("requests"),
            cacheable.sum().cast(pl.Int64).alias("cacheable_requests"),
            (cacheable & hit).sum().cast(pl.Int64).alias("hits"),
            pl.col("bytes").filter(cacheable & hit).sum().alias("_hit_bytes"),
            _sum_where(pl.col("bytes"), cacheable).alias("_bytes"),
            (cacheable & (hit | pl.col("shield_hit"))).sum().alias("_offload"),
        )
        .with_columns(
            _ratio(pl.col("hits"), pl.col("cacheable_requests")).alias("hit_ratio"),
            pl.when(pl.col("_bytes") != 0)
            .then(pl.col("_hit_bytes").cast(pl.Float64) / pl.col("_bytes"))
            .alias("byte_hit_ratio"),
            _ratio(pl.col("_offload"), pl.col("cacheable_requests")).alias("origin_offload"),
        )
        .drop("_hit_bytes", "_bytes", "_offload")
    )
    return out.sort("bucket_start", "distribution_id", "behavior", nulls_last=False).collect()


def hit_ratio_regressions(
    lake: Lake,
    *,
    start: datetime | None,
    end: datetime | None,
    distribution: str | None,
    log: str,
    baseline_hours: int,
    min_drop: float,
    min_hours: int,
    min_cacheable: int,
) -> pl.DataFrame:
    keys = ["distribution_id", "behavior"]
    req = cache_flags(resolved_requests(lake, log, start, end, distribution))
    hourly = (
        req.group_by(*keys, pl.col("timestamp").dt.truncate("1h").alias("hour"))
        .agg(
            pl.col("cacheable").sum().cast(pl.Int64).alias("cacheable"),
            (pl.col("cacheable") & pl.col("hit")).sum().cast(pl.Int64).alias("hits"),
        )
        .filter(pl.col("cacheable") >= min_cacheable)
        .sort(*keys, "hour")
    )
    window = max(baseline_hours, 1)

    def trailing(col: str) -> pl.Expr:
        return pl.col(col).shift(1).rolling_sum(window_size=window, min_samples=window).over(keys)

    based = (
        hourly.with_columns(
            (pl.col("hits").cast(pl.Float64) / pl.col("cacheable")).alias("ratio"),
            (trailing("hits").cast(pl.Float64) / trailing("cacheable")).alias("baseline"),
        )
        .with_columns(
            (pl.col("ratio") <= pl.col("baseline") - min_drop).fill_null(False).alias("low"),
        )
        .with_columns((pl.int_range(pl.len()).over(keys) - pl.int_range(pl.len()).over([*keys, "low"])).alias("run_id"))
    )
    runs = (
        based.filter(pl.col("low"))
        .group_by(*keys, "run_id")
        .agg(
            pl.col("hour").min().alias("started_at"),
            (pl.col("hour").max() + pl.duration(hours=1)).alias("ended_at"),
            pl.len().cast(pl.Int64).alias("hours"),
            pl.col("baseline").sort_by("hour").first().alias("baseline_ratio"),
            (pl.col("hits").sum().cast(pl.Float64) / pl.col("cacheable").sum()).alias("ratio_during"),
            pl.col("cacheable").sum().cast(pl.Int64).alias("cacheable_requests_during"),
        )
        .filter(pl.col("hours") >= min_hours)
        .with_columns((pl.col("baseline_ratio") - pl.col("ratio_during")).alias("drop"))
    )
    return (
        runs.select(
            *keys,
            "started_at",
            "ended_at",
            "hours",
            "baseline_ratio",
            "ratio_during",
            "drop",
            "cacheable_requests_during",
        )
        .sort("started_at", *keys)
        .collect()
    )
