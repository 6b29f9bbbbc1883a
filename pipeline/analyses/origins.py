"""Polars twins of ``sql/status-mix.sql``, ``sql/failover.sql`` and ``sql/failover-episodes.sql``.

The definitions (what counts as a failure, what is left out as an edge decision, the categories) are
stated in the SQL headers and ``sql/views/failures.sql``; this module computes the same rows with Polars.
"""

from __future__ import annotations

from datetime import datetime

import polars as pl

from pipeline.analyses.cache import bucket_expr
from pipeline.analyses.requests import ID_KEY, id_key, resolved_requests, slot_lookup, slotted_requests
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


def _edge_made() -> pl.Expr:
    return pl.col("result_type").fill_null("").is_in(EDGE_RESULT_TYPES) | pl.col("detailed_result_type").fill_null(
        ""
    ).is_in(EDGE_DETAILED_TYPES)


def _group_codes(slots: pl.DataFrame) -> pl.DataFrame:
    """(slot, code): each failover code of each slot whose target is an origin group."""
    return (
        slots.with_row_index("slot")
        .select("slot", pl.col("failover_status_codes").alias("code"))
        .explode("code")
        .drop_nulls()
    )


def _in_criteria(slots: pl.DataFrame) -> pl.Expr:
    """Whether a row's status is in the failover criteria of its slot's group (false without a group).

    A (slot, status) pair is packed into one integer and looked up among the few dozen pairs of the
    config, instead of gathering a list of codes for every request and searching it. Codes are Int16, so
    no status of that range can make another slot's key.
    """
    codes = _group_codes(slots)
    keys = pl.col("slot").cast(pl.Int64) * 65536 + pl.col("code").cast(pl.Int64)
    wanted = codes.select(keys).get_column("slot")
    packed = pl.col("slot").cast(pl.Int64) * 65536 + pl.col("status").cast(pl.Int64)
    return packed.is_in(wanted.implode()).fill_null(False)


def _may_fail(slots: pl.DataFrame) -> pl.Expr:
    """A request that could be an origin failure before its behavior is known (a superset of the failures)."""
    codes = _group_codes(slots).get_column("code").cast(pl.Int64).unique()
    status = pl.col("status")
    by_status = (status >= 500) | (status == 429) | status.cast(pl.Int64).is_in(codes.implode())
    return by_status.fill_null(False) & ~_edge_made()


def _failed(slots: pl.DataFrame) -> pl.Expr:
    status = pl.col("status")
    return ((status >= 500) | (status == 429) | _in_criteria(slots)).fill_null(False) & ~_edge_made()


def _waf_ended(lake: Lake) -> pl.LazyFrame:
    """The ids of requests a WAF rule ended, as ``id_key`` hashes (as strings, the 550k of them in the
    bench lake's 10M records kept 0.8 GB of the scan's buffers alive, and 7 GB at 100M)."""
    return (
        lake.scan("waf")
        .filter(pl.col("action").is_in(WAF_ENDED) & pl.col("request_id").is_not_null())
        .select(id_key("request_id"))
    )


def _classify(failing: pl.LazyFrame, slots: pl.DataFrame, lake: Lake) -> pl.LazyFrame:
    """Failing requests (slotted) less those a WAF rule ended, with ``target`` and ``category``.

    The WAF-ended ids are an anti join inside the plan, so the WAF table is read alongside the requests:
    collecting them first (550k ids of 10M WAF records) was a separate 2.0 s read before the requests.
    """
    slot = pl.col("slot")
    group = slot_lookup(slots, "target_is_group", slot).fill_null(False)
    category = (
        pl.when(~pl.col("has_config"))
        .then(pl.lit("no_config"))
        .when(~group)
        .then(pl.lit("no_group"))
        .when(~pl.col("method").is_in(FAILOVER_METHODS))
        .then(pl.lit("gap_method"))
        .when(_in_criteria(slots))
        .then(pl.lit("eligible"))
        .otherwise(pl.lit("gap_status"))
    )
    target = pl.when(pl.col("has_config")).then(slot_lookup(slots, "target_origin_id", slot)).otherwise(pl.col("host"))
    kept = failing.with_columns(id_key("request_id")).join(_waf_ended(lake), on=ID_KEY, how="anti").drop(ID_KEY)
    return kept.with_columns(target.alias("target"), category.alias("category"))


def failures(
    lake: Lake,
    *,
    start: datetime | None,
    end: datetime | None,
    distribution: str | None,
    log: str,
) -> pl.LazyFrame:
    """The twin of the ``failures`` table macro in ``sql/views/failures.sql``."""
    req, slots = slotted_requests(lake, log, start, end, distribution, only=_may_fail)
    behavior = pl.coalesce("logged_behavior", slot_lookup(slots, "path_pattern", pl.col("slot")), pl.lit("unknown"))
    return _classify(req.filter(_failed(slots)), slots, lake).select(
        "distribution_id",
        "target",
        "category",
        "status",
        "method",
        "timestamp",
        "has_config",
        behavior.alias("behavior"),
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
    # One scan and one behavior replay feed both the failing rows and the traffic per minute: the two
    # plans share it and are collected together (collect_all caches the common part, so the requests are
    # read and replayed once: the plan shows one CACHE). Traffic is counted per behavior slot and minute,
    # and each slot's target is read after the count, not gathered as a string for each of 10M requests.
    req, slots = slotted_requests(lake, log, start, end, distribution)
    minute = pl.col("timestamp").dt.truncate("1m").alias("minute")
    failing = _classify(req.filter(_failed(slots)), slots, lake).select(*keys, "category", "status", "timestamp")
    host = pl.when(pl.col("has_config")).then(pl.lit(None, pl.String)).otherwise(pl.col("host")).alias("host")
    counted = req.group_by("distribution_id", "has_config", "slot", host, minute).agg(pl.len().alias("requests"))
    failed, by_slot = pl.collect_all([failing, counted])
    target = pl.when(pl.col("has_config")).then(slot_lookup(slots, "target_origin_id", pl.col("slot")))
    traffic = (
        by_slot.lazy()
        .group_by("distribution_id", target.otherwise(pl.col("host")).alias("target"), "minute")
        .agg(pl.col("requests").sum())
    )
    f = failed.lazy().sort(*keys, "timestamp")
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
