"""Polars twins of ``sql/status-mix.sql``, ``sql/failover.sql`` and ``sql/failover-episodes.sql``.

The definitions (what counts as a failure, what is left out as an edge decision, the categories) are
stated in the SQL headers and ``sql/views/failures.sql``; this module computes the same rows with Polars.
"""

from __future__ import annotations

from datetime import datetime

import polars as pl

from pipeline.analyses.cache import bucket_expr
from pipeline.analyses.requests import resolved_requests
from pipeline.lake import Lake

# The macros edge_generated and client_made of sql/views/edge_made.sql, as lists.
EDGE_RESULT_TYPES = ["LimitExceeded", "CapacityExceeded", "LambdaExecutionError"]
EDGE_GENERATED_DETAILED = [
    "LimitExceeded",
    "CapacityExceeded",
    "LambdaExecutionError",
    "LambdaValidationError",
    "LambdaLimitExceededError",
    "FunctionExecutionError",
    "FunctionThrottledError",
    "FunctionValidationError",
]
CLIENT_DETAILED = [
    "ClientCommError",
    "ClientGeoBlocked",
    "ClientHungUpRequest",
    "InvalidRequest",
    "InvalidRequestBlocked",
    "InvalidRequestCertificate",
    "InvalidRequestHeader",
    "InvalidRequestMethod",
]
EDGE_DETAILED_TYPES = EDGE_GENERATED_DETAILED + CLIENT_DETAILED
WAF_ENDED = ["BLOCK", "CAPTCHA", "CHALLENGE"]
FAILOVER_METHODS = ["GET", "HEAD", "OPTIONS"]


def _origin_key() -> pl.Expr:
    return pl.when(pl.col("has_config")).then(pl.col("target")).otherwise(pl.col("host"))


def status_mix(
    lake: Lake, *, start: datetime | None, end: datetime | None, distribution: str | None, log: str, bucket: str | None
) -> pl.DataFrame:
    req = resolved_requests(lake, log, start, end, distribution).select(
        bucket_expr(bucket).alias("bucket_start"),
        "distribution_id",
        _origin_key().alias("origin"),
        pl.col("status").alias("sc_status"),
    )
    counted = req.group_by("bucket_start", "distribution_id", "origin", "sc_status").agg(
        pl.len().cast(pl.Int64).alias("requests")
    )
    out = counted.with_columns(
        (
            pl.col("requests").cast(pl.Float64)
            / pl.col("requests").sum().over(["bucket_start", "distribution_id", "origin"])
        ).alias("share")
    )
    return out.sort(
        ["bucket_start", "distribution_id", "origin", "sc_status"], nulls_last=[False, False, True, False]
    ).collect()


def failures(
    lake: Lake,
    *,
    start: datetime | None,
    end: datetime | None,
    distribution: str | None,
    log: str,
    resolved: pl.LazyFrame | None = None,
) -> pl.LazyFrame:
    """The twin of the ``failures`` table macro in ``sql/views/failures.sql`` (over ``resolved`` if given)."""
    ended = (
        lake.scan("waf")
        .filter(pl.col("action").is_in(WAF_ENDED) & pl.col("request_id").is_not_null())
        .select("request_id")
        .unique()
        .collect()
        .get_column("request_id")
    )
    codes = pl.col("failover_status_codes")
    in_criteria = codes.list.contains(pl.col("status").cast(pl.Int16)).fill_null(False)
    if resolved is None:
        resolved = resolved_requests(lake, log, start, end, distribution)
    req = resolved.filter(
        ((pl.col("status") >= 500) | (pl.col("status") == 429) | in_criteria).fill_null(False)
        & ~pl.col("result_type").fill_null("").is_in(EDGE_RESULT_TYPES)
        & ~pl.col("detailed_result_type").fill_null("").is_in(EDGE_DETAILED_TYPES)
        & (pl.col("request_id").is_null() | ~pl.col("request_id").is_in(ended.implode()))
    )
    category = (
        pl.when(~pl.col("has_config"))
        .then(pl.lit("no_config"))
        .when(~pl.col("target_is_group").fill_null(False))
        .then(pl.lit("no_group"))
        .when(~pl.col("method").is_in(FAILOVER_METHODS))
        .then(pl.lit("gap_method"))
        .when(in_criteria)
        .then(pl.lit("eligible"))
        .otherwise(pl.lit("gap_status"))
    )
    return req.select(
        "distribution_id",
        _origin_key().alias("target"),
        category.alias("category"),
        "status",
        "method",
        "timestamp",
        "has_config",
        "behavior",
        "request_id",
        "uri_stem",
        "client_ip",
        "result_type",
        "detailed_result_type",
    )


def failover(
    lake: Lake, *, start: datetime | None, end: datetime | None, distribution: str | None, log: str
) -> pl.DataFrame:
    f = failures(lake, start=start, end=end, distribution=distribution, log=log)
    out = f.group_by("distribution_id", "target", "category", pl.col("status").alias("sc_status")).agg(
        pl.len().cast(pl.Int64).alias("requests"),
        pl.col("timestamp").min().alias("first_seen"),
        pl.col("timestamp").max().alias("last_seen"),
    )
    return out.sort(
        ["distribution_id", "target", "category", "sc_status"], nulls_last=[False, True, False, False]
    ).collect()


def failover_episodes(
    lake: Lake,
    *,
    start: datetime | None,
    end: datetime | None,
    distribution: str | None,
    log: str,
    gap_s: int,
    min_failures: int,
) -> pl.DataFrame:
    keys = ["distribution_id", "target"]
    # One scan and one behavior replay feed both the failures and the traffic per minute: the same
    # LazyFrame in both plans, collected together, is read once (it was read and replayed twice).
    resolved = resolved_requests(lake, log, start, end, distribution)
    f = failures(lake, start=start, end=end, distribution=distribution, log=log, resolved=resolved).sort(
        *keys, "timestamp"
    )
    gap = (pl.col("timestamp") - pl.col("timestamp").shift(1)).over(keys).dt.total_microseconds() / 1e6
    numbered = f.with_columns(
        pl.when(gap.is_null() | (gap > gap_s)).then(1).otherwise(0).alias("starts"),
    ).with_columns(pl.col("starts").cum_sum().over(keys).alias("episode"))
    ekeys = [*keys, "episode"]
    episodes = (
        numbered.group_by(ekeys)
        .agg(
            pl.col("timestamp").min().alias("started_at"),
            pl.col("timestamp").max().alias("ended_at"),
            pl.len().cast(pl.Int64).alias("failures"),
        )
        .filter(pl.col("failures") >= min_failures)
    )
    per_minute = numbered.group_by(*ekeys, pl.col("timestamp").dt.truncate("1m").alias("minute")).agg(
        pl.len().alias("f")
    )
    traffic = resolved.group_by(
        "distribution_id", _origin_key().alias("target"), pl.col("timestamp").dt.truncate("1m").alias("minute")
    ).agg(pl.len().alias("requests"))
    peaks = (
        per_minute.join(traffic, on=["distribution_id", "target", "minute"], how="inner", nulls_equal=True)
        .group_by(ekeys)
        .agg(
            pl.col("f").max().cast(pl.Int64).alias("peak_failures_per_minute"),
            (pl.col("f").cast(pl.Float64) / pl.col("requests")).max().alias("peak_failure_rate"),
        )
    )

    def dominant(col: str, alias: str) -> pl.LazyFrame:
        counts = numbered.group_by(*ekeys, col).agg(pl.len().alias("n"))
        return (
            counts.sort([*ekeys, "n", col], descending=[False, False, False, True, False])
            .group_by(ekeys, maintain_order=True)
            .first()
            .select(*ekeys, pl.col(col).alias(alias))
        )

    out = (
        episodes.join(peaks, on=ekeys, how="inner", nulls_equal=True)
        .join(dominant("category", "dominant_category"), on=ekeys, how="inner", nulls_equal=True)
        .join(dominant("status", "dominant_status"), on=ekeys, how="inner", nulls_equal=True)
    )
    return (
        out.select(
            *keys,
            "started_at",
            "ended_at",
            "failures",
            "peak_failures_per_minute",
            "peak_failure_rate",
            "dominant_category",
            "dominant_status",
        )
        .sort(["started_at", "distribution_id", "target"], nulls_last=[False, False, True])
        .collect()
    )
