"""Polars twins of the doctor's log queries (``sql/doctor/*.sql``): the same rows, computed with Polars.

The SQL files are the contract (their headers define every column); the doctor reads its evidence
through :func:`pipeline.analyses.run`, so either engine can answer, and the tests assert both agree.
Failures and edge-made errors come from the shared twins of the ``failures`` and ``resolved_requests``
macros, so no definition is repeated here.
"""

from __future__ import annotations

from datetime import datetime

import polars as pl

from pipeline.analyses.origins import EDGE_GENERATED_DETAILED, EDGE_RESULT_TYPES, failures
from pipeline.analyses.requests import resolved_requests
from pipeline.lake import Lake

READS = ["GET", "HEAD", "OPTIONS"]


def _sample_struct() -> pl.Expr:
    return pl.struct(
        "timestamp",
        "method",
        pl.col("uri_stem").alias("uri"),
        "status",
        "client_ip",
        "request_id",
    )


def _samples(frame: pl.LazyFrame, keys: list[str], n: int) -> pl.LazyFrame:
    """The first ``n`` rows of each group (by timestamp, then request id) as a list of sample structs."""
    return (
        frame.sort("timestamp", "request_id", nulls_last=False)
        .group_by(keys, maintain_order=True)
        .agg(_sample_struct().head(n).alias("samples"))
    )


def _by_status(frame: pl.LazyFrame, keys: list[str], count_name: str) -> pl.LazyFrame:
    counted = frame.group_by(*keys, "status").agg(pl.len().cast(pl.Int64).alias(count_name))
    return (
        counted.sort("status")
        .group_by(keys, maintain_order=True)
        .agg(pl.struct("status", count_name).alias("by_status"))
    )


def _span(frame: pl.LazyFrame, keys: list[str], count_name: str, *extra: pl.Expr) -> pl.LazyFrame:
    """Per key: ``extra``, the row count, first and last seen, and the counts by status."""
    grouped = frame.group_by(keys).agg(
        *extra,
        pl.len().cast(pl.Int64).alias(count_name),
        pl.col("timestamp").min().alias("first_seen"),
        pl.col("timestamp").max().alias("last_seen"),
    )
    return grouped.join(_by_status(frame, keys, count_name), on=keys, how="inner", nulls_equal=True)


def _worst_minute(frame: pl.LazyFrame, keys: list[str], count_name: str) -> pl.LazyFrame:
    """Per group, the clock minute with the most rows (ties: the earliest) and its count."""
    minutes = frame.group_by(*keys, pl.col("timestamp").dt.truncate("1m").alias("minute")).agg(
        pl.len().cast(pl.Int64).alias(count_name)
    )
    return minutes.sort([count_name, "minute"], descending=[True, False]).group_by(keys, maintain_order=True).first()


def _sort(frame: pl.LazyFrame, cols: list[str], nulls_last: list[bool]) -> pl.DataFrame:
    return frame.sort(cols, nulls_last=nulls_last).collect()


def doctor_failures(
    lake: Lake,
    *,
    start: datetime | None,
    end: datetime | None,
    distribution: str | None,
    log: str,
    samples: int,
) -> pl.DataFrame:
    keys = ["distribution_id", "behavior", "target", "category", "method_kind"]
    f = failures(lake, start=start, end=end, distribution=distribution, log=log).with_columns(
        pl.when(pl.col("method").is_in(READS)).then(pl.lit("read")).otherwise(pl.lit("write")).alias("method_kind")
    )
    traffic = (
        resolved_requests(lake, log, start, end, distribution)
        .group_by("distribution_id", "behavior", pl.col("timestamp").dt.truncate("1m").alias("minute"))
        .agg(pl.len().cast(pl.Int64).alias("requests"))
    )
    totals = traffic.group_by("distribution_id", "behavior").agg(pl.col("requests").sum().alias("behavior_requests"))
    worst = _worst_minute(f, keys, "peak_failures_per_minute").join(
        traffic, on=["distribution_id", "behavior", "minute"], how="inner"
    )
    out = (
        _span(f, keys, "failures")
        .join(worst, on=keys, how="inner", nulls_equal=True)
        .join(totals, on=["distribution_id", "behavior"], how="inner")
        .join(_samples(f, keys, samples), on=keys, how="inner", nulls_equal=True)
        .select(
            *keys,
            "failures",
            "by_status",
            "first_seen",
            "last_seen",
            pl.col("minute").alias("peak_minute"),
            "peak_failures_per_minute",
            (pl.col("peak_failures_per_minute").cast(pl.Float64) / pl.col("requests")).alias("peak_share"),
            "behavior_requests",
            "samples",
        )
    )
    return _sort(out, keys, [False, False, True, False, False])


def doctor_traffic(
    lake: Lake, *, start: datetime | None, end: datetime | None, distribution: str | None, log: str
) -> pl.DataFrame:
    read = pl.col("method").is_in(READS)
    out = (
        resolved_requests(lake, log, start, end, distribution)
        .group_by("distribution_id", "behavior", "target")
        .agg(
            pl.len().cast(pl.Int64).alias("requests"),
            read.sum().cast(pl.Int64).alias("reads"),
            (~read).sum().cast(pl.Int64).alias("writes"),
            pl.col("detailed_result_type").count().cast(pl.Int64).alias("with_detailed_type"),
            pl.col("timestamp").min().alias("first_seen"),
            pl.col("timestamp").max().alias("last_seen"),
        )
    )
    return _sort(out, ["distribution_id", "behavior", "target"], [False, False, True])


def doctor_origin_errors(
    lake: Lake,
    *,
    start: datetime | None,
    end: datetime | None,
    distribution: str | None,
    log: str,
    samples: int,
) -> pl.DataFrame:
    keys = ["distribution_id", "target", "answered_by", "origin", "detailed_result_type"]
    groups = lake.scan("origin_groups").select(
        "distribution_id", pl.col("origin_group_id").alias("target"), "primary_origin_id", "secondary_origin_id"
    )
    category = pl.col("category")
    f = (
        failures(lake, start=start, end=end, distribution=distribution, log=log)
        .filter(pl.col("detailed_result_type").str.starts_with("Origin").fill_null(False))
        .join(groups, on=["distribution_id", "target"], how="left")
        .with_columns(
            pl.when(category == "eligible")
            .then(pl.lit("secondary"))
            .when(category.is_in(["gap_status", "gap_method"]))
            .then(pl.lit("primary"))
            .when(category == "no_group")
            .then(pl.lit("origin"))
            .otherwise(pl.lit("unknown"))
            .alias("answered_by"),
            pl.when(category == "eligible")
            .then(pl.col("secondary_origin_id"))
            .when(category.is_in(["gap_status", "gap_method"]))
            .then(pl.col("primary_origin_id"))
            .when(category == "no_group")
            .then(pl.col("target"))
            .alias("origin"),
        )
    )
    out = (
        _span(f, keys, "failures")
        .join(_worst_minute(f, keys, "peak_failures_per_minute"), on=keys, how="inner", nulls_equal=True)
        .join(_samples(f, keys, samples), on=keys, how="inner", nulls_equal=True)
        .select(
            *keys,
            "failures",
            "by_status",
            "first_seen",
            "last_seen",
            pl.col("minute").alias("peak_minute"),
            "peak_failures_per_minute",
            "samples",
        )
    )
    return _sort(out, keys, [False, True, False, True, False])


def doctor_edge_errors(
    lake: Lake,
    *,
    start: datetime | None,
    end: datetime | None,
    distribution: str | None,
    log: str,
    samples: int,
) -> pl.DataFrame:
    keys = ["distribution_id", "behavior", "kind"]
    detailed_is_edge = pl.col("detailed_result_type").fill_null("").is_in(EDGE_GENERATED_DETAILED)
    edge = pl.col("result_type").fill_null("").is_in(EDGE_RESULT_TYPES) | detailed_is_edge
    e = (
        resolved_requests(lake, log, start, end, distribution)
        .filter((pl.col("status") >= 400).fill_null(False) & edge)
        .with_columns(
            pl.when(detailed_is_edge)
            .then(pl.col("detailed_result_type"))
            .otherwise(pl.col("result_type"))
            .alias("kind")
        )
    )
    out = (
        _span(e, keys, "requests", pl.col("target").first().alias("target"))
        .join(_worst_minute(e, keys, "peak_requests_per_minute"), on=keys, how="inner")
        .join(_samples(e, keys, samples), on=keys, how="inner")
        .select(
            "distribution_id",
            "behavior",
            "target",
            "kind",
            "requests",
            "by_status",
            "first_seen",
            "last_seen",
            pl.col("minute").alias("peak_minute"),
            "peak_requests_per_minute",
            "samples",
        )
    )
    return _sort(out, keys, [False, False, False])


def doctor_constant_bodies(
    lake: Lake,
    *,
    start: datetime | None,
    end: datetime | None,
    distribution: str | None,
    log: str,
    max_bytes: int,
    samples: int,
) -> pl.DataFrame:
    keys = ["distribution_id", "behavior"]
    ok = resolved_requests(lake, log, start, end, distribution).filter(pl.col("status") == 200)
    totals = ok.group_by(keys).agg(pl.len().cast(pl.Int64).alias("ok_responses"))
    small = ok.filter(pl.col("content_length").is_between(0, max_bytes))
    sizes = (
        small.group_by(*keys, "content_length")
        .agg(pl.len().cast(pl.Int64).alias("responses"))
        .sort(["responses", "content_length"], descending=[True, False])
        .group_by(keys, maintain_order=True)
        .first()
    )
    modal = small.join(sizes.select(*keys, "content_length"), on=[*keys, "content_length"], how="semi")
    seen = modal.group_by(keys).agg(
        pl.col("timestamp").min().alias("first_seen"), pl.col("timestamp").max().alias("last_seen")
    )
    out = (
        sizes.join(totals, on=keys, how="inner")
        .join(seen, on=keys, how="inner")
        .join(_samples(modal, keys, samples), on=keys, how="inner")
        .select(
            *keys,
            "content_length",
            "responses",
            "ok_responses",
            (pl.col("responses").cast(pl.Float64) / pl.col("ok_responses")).alias("share"),
            "first_seen",
            "last_seen",
            "samples",
        )
    )
    return _sort(out, keys, [False, False])


def doctor_query_names(
    lake: Lake,
    *,
    start: datetime | None,
    end: datetime | None,
    distribution: str | None,
    log: str,
    top: int,
) -> pl.DataFrame:
    keys = ["distribution_id", "behavior"]
    named = (
        resolved_requests(lake, log, start, end, distribution)
        .filter(pl.col("method").is_in(["GET", "HEAD"]) & (pl.col("uri_query").fill_null("") != ""))
        .select(
            *keys,
            pl.col("uri_query")
            .str.split("&")
            .list.eval(pl.element().str.split("=").list.first())
            .list.unique()
            .alias("name"),
        )
        .explode("name")
        .filter(pl.col("name") != "")
    )
    counted = named.group_by(*keys, "name").agg(pl.len().cast(pl.Int64).alias("requests"))
    out = (
        counted.sort([*keys, "requests", "name"], descending=[False, False, True, False])
        .group_by(keys, maintain_order=True)
        .head(top)
    )
    return out.sort([*keys, "requests", "name"], descending=[False, False, True, False]).collect()


def doctor_waf_traffic(
    lake: Lake, *, start: datetime | None, end: datetime | None, distribution: str | None
) -> pl.DataFrame:
    frame = lake.scan("waf")
    if start is not None:
        frame = frame.filter(pl.col("timestamp") >= start)
    if end is not None:
        frame = frame.filter(pl.col("timestamp") < end)
    if distribution is not None:
        frame = frame.filter(pl.col("http_source_id") == distribution)
    out = frame.group_by(pl.col("http_source_id").alias("distribution_id"), "webacl_id").agg(
        pl.len().cast(pl.Int64).alias("records"),
        pl.col("action").is_in(["BLOCK", "CAPTCHA", "CHALLENGE"]).sum().cast(pl.Int64).alias("terminated"),
        pl.col("timestamp").min().alias("first_seen"),
        pl.col("timestamp").max().alias("last_seen"),
    )
    return _sort(out, ["distribution_id", "webacl_id"], [True, True])
