"""The Polars twin of ``sql/views/edge_requests.sql`` and ``sql/views/resolved_requests.sql``.

Every analysis starts from the same request rows: one log's requests in a time window, each with the
cache behavior that served it (logged when the log carries ``cache-behavior-path-pattern``, else
replayed from the ingested distribution config, else ``unknown``) and that behavior's target. The SQL
files are the contract; this module computes the same rows with Polars only (no DuckDB), and the tests
assert the two agree row for row.
"""

from __future__ import annotations

from datetime import datetime

import polars as pl

from pipeline.lake import Lake

_COMMON = [
    "log",
    "distribution_id",
    "timestamp",
    "dt",
    "method",
    "status",
    "protocol",
    "result_type",
    "response_result_type",
    "detailed_result_type",
    "bytes",
    "host",
    "request_id",
    "client_ip",
    "uri_stem",
    "uri_query",
    "user_agent",
    "logged_behavior",
    "time_to_first_byte",
    "time_taken",
    "content_length",
]


def in_window(
    frame: pl.LazyFrame,
    start: datetime | None,
    end: datetime | None,
    distribution: str | None,
    *,
    distribution_column: str = "distribution_id",
) -> pl.LazyFrame:
    """Rows with ``start <= timestamp < end`` (either bound optional), of one distribution if given."""
    if start is not None:
        frame = frame.filter(pl.col("timestamp") >= start)
    if end is not None:
        frame = frame.filter(pl.col("timestamp") < end)
    if distribution is not None:
        frame = frame.filter(pl.col(distribution_column) == distribution)
    return frame


def edge_requests(lake: Lake, log: str) -> pl.LazyFrame:
    """One log's requests in the shared columns (see ``sql/views/edge_requests.sql``)."""
    if log == "cloudfront":
        frame = lake.scan("cloudfront")
        uri = pl.col("cs_uri_stem")
    else:
        frame = lake.scan("realtime")
        uri = pl.col("cs_uri_stem").str.split("?").list.first()
    return frame.select(
        pl.lit(log).alias("log"),
        "distribution_id",
        "timestamp",
        "dt",
        pl.col("cs_method").alias("method"),
        pl.col("sc_status").alias("status"),
        pl.col("cs_protocol").alias("protocol"),
        pl.col("x_edge_result_type").alias("result_type"),
        pl.col("x_edge_response_result_type").alias("response_result_type"),
        pl.col("x_edge_detailed_result_type").alias("detailed_result_type"),
        pl.col("sc_bytes").alias("bytes"),
        pl.col("x_host_header").alias("host"),
        pl.col("x_edge_request_id").alias("request_id"),
        pl.col("c_ip").alias("client_ip"),
        uri.alias("uri_stem"),
        pl.col("cs_uri_query").alias("uri_query"),
        pl.col("cs_user_agent").alias("user_agent"),
        pl.col("cache_behavior_path_pattern").alias("logged_behavior"),
        "time_to_first_byte",
        "time_taken",
        pl.col("sc_content_len").alias("content_length"),
    )


def resolved_requests(
    lake: Lake, log: str, start: datetime | None, end: datetime | None, distribution: str | None
) -> pl.LazyFrame:
    """Requests with behavior, target, target_is_group, failover_status_codes, has_config."""
    req = in_window(edge_requests(lake, log), start, end, distribution)
    req = req.with_columns(pl.col("uri_stem").fill_null("").str.strip_prefix("/").alias("_npath"))
    behaviors = lake.scan("behaviors").select(
        "distribution_id", "precedence", "path_pattern", "path_regex", "target_origin_id", "target_is_group"
    )
    configured = behaviors.select("distribution_id").unique()
    paths = (
        req.filter(pl.col("logged_behavior").is_null())
        .select("distribution_id", "_npath")
        .unique()
        .join(configured, on="distribution_id", how="semi")
    )
    matched = (
        paths.join(behaviors, on="distribution_id", how="inner")
        .filter(pl.col("_npath").str.contains(pl.col("path_regex")))
        .group_by("distribution_id", "_npath")
        .agg(pl.col("precedence").min().alias("_m_prec"))
    )
    logged = behaviors.select(
        "distribution_id", pl.col("path_pattern").alias("logged_behavior"), pl.col("precedence").alias("_l_prec")
    )
    picked = (
        req.join(matched, on=["distribution_id", "_npath"], how="left")
        .join(logged, on=["distribution_id", "logged_behavior"], how="left")
        .with_columns(
            pl.when(pl.col("logged_behavior").is_null())
            .then(pl.col("_m_prec"))
            .otherwise(pl.col("_l_prec"))
            .alias("_prec"),
            pl.col("distribution_id")
            .is_in(configured.collect().get_column("distribution_id").implode())
            .fill_null(False)
            .alias("has_config"),
        )
    )
    groups = lake.scan("origin_groups").select(
        "distribution_id", pl.col("origin_group_id").alias("target"), "failover_status_codes"
    )
    chosen = behaviors.select(
        "distribution_id",
        pl.col("precedence").alias("_prec"),
        pl.col("path_pattern").alias("_pattern"),
        pl.col("target_origin_id").alias("target"),
        "target_is_group",
    )
    out = (
        picked.join(chosen, on=["distribution_id", "_prec"], how="left")
        .join(groups, on=["distribution_id", "target"], how="left")
        .with_columns(
            pl.when(pl.col("target_is_group")).then(pl.col("failover_status_codes")).alias("failover_status_codes"),
            pl.coalesce("logged_behavior", "_pattern", pl.lit("unknown")).alias("behavior"),
        )
    )
    return out.select(*_COMMON, "has_config", "behavior", "target", "target_is_group", "failover_status_codes")
