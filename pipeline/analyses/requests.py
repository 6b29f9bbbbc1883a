"""The Polars twin of ``sql/views/edge_requests.sql`` and ``sql/views/resolved_requests.sql``.

Every analysis starts from the same request rows: one log's requests in a time window, each with the
cache behavior that served it (logged when the log carries ``cache-behavior-path-pattern``, else
replayed from the ingested distribution config, else ``unknown``) and that behavior's target. The SQL
files are the contract; this module computes the same rows with Polars only (no DuckDB), and the tests
assert the two agree row for row.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import polars as pl

from pipeline.lake import Lake
from pipeline.readers.patterns import literal_parts

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
    req, slots = slotted_requests(lake, log, start, end, distribution)
    slot = pl.col("slot")
    out = req.with_columns(
        pl.coalesce("logged_behavior", slot_lookup(slots, "path_pattern", slot), pl.lit("unknown")).alias("behavior"),
        slot_lookup(slots, "target_origin_id", slot).alias("target"),
        slot_lookup(slots, "target_is_group", slot).alias("target_is_group"),
        slot_lookup(slots, "failover_status_codes", slot).alias("failover_status_codes"),
    )
    return out.select(*_COMMON, "has_config", "behavior", "target", "target_is_group", "failover_status_codes")


def slotted_requests(
    lake: Lake,
    log: str,
    start: datetime | None,
    end: datetime | None,
    distribution: str | None,
    *,
    only: Callable[[pl.DataFrame], pl.Expr] | None = None,
) -> tuple[pl.LazyFrame, pl.DataFrame]:
    """The windowed requests (rows kept by ``only``, if given) with their behavior ``slot`` and ``has_config``.

    The slot is the chosen behavior's row in the returned per-slot table (``path_pattern``,
    ``target_origin_id``, ``target_is_group``, ``failover_status_codes``: the group's criteria, null when the
    target is no group); null when no behavior applies. ``only`` (given the per-slot table) keeps rows
    before the replay, so rows an analysis cannot use are never matched against the patterns: over 10M
    requests the replay cost 1.8 CPU-s where scanning its columns cost 0.7 (warm page cache).
    """
    req = in_window(edge_requests(lake, log), start, end, distribution)
    behaviors = (
        lake.scan("behaviors")
        .select("distribution_id", "precedence", "path_pattern", "path_regex", "target_origin_id", "target_is_group")
        .sort("distribution_id", "precedence")
        .collect()
    )
    configured = behaviors.get_column("distribution_id").unique()
    # Everything an analysis needs about the chosen behavior is looked up by its slot (its row in
    # `behaviors`): a gather from a column of a few dozen values, where two joins of every request
    # with the behaviors and the origin groups cost ~2 CPU-s over 10M requests.
    slots = behaviors.join(
        lake.scan("origin_groups")
        .select("distribution_id", pl.col("origin_group_id").alias("target_origin_id"), "failover_status_codes")
        .collect(),
        on=["distribution_id", "target_origin_id"],
        how="left",
        maintain_order="left",
    ).with_columns(
        pl.when(pl.col("target_is_group")).then(pl.col("failover_status_codes")).alias("failover_status_codes")
    )
    assert slots.height == behaviors.height, "one origin group per id and distribution"
    if only is not None:
        req = req.filter(only(slots))
    # The path is cut once into a column: used inside the chain, the expression was evaluated once per
    # behavior (16 times: 7.9 s of CPU over 10M paths, against 0.7 s once).
    picked = (
        req.with_columns(pl.col("uri_stem").fill_null("").str.strip_prefix("/").alias("_npath"))
        .with_columns(
            pl.when(pl.col("logged_behavior").is_null())
            .then(behavior_precedence(behaviors, pl.col("_npath")))
            .otherwise(logged_precedence(behaviors))
            .alias("slot"),
            pl.col("distribution_id").is_in(configured.implode()).fill_null(False).alias("has_config"),
        )
        .drop("_npath")
    )
    # Everything the output needs about the chosen behavior is looked up by its slot (its row in
    # `behaviors`): a gather from a column of a few dozen values, where two joins of every request
    # with the behaviors and the origin groups cost ~2 CPU-s over 10M requests.
    return picked, slots


def slot_lookup(slots: pl.DataFrame, column: str, slot: pl.Expr) -> pl.Expr:
    """The value of a per-slot ``column`` (of :func:`slotted_requests`) at ``slot`` (null for a null slot)."""
    return pl.lit(slots.get_column(column)).gather(slot)


def behavior_precedence(behaviors: pl.DataFrame, npath: pl.Expr) -> pl.Expr:
    """The slot (row in ``behaviors``) of the first behavior whose pattern matches ``npath``; null if none does.

    Per distribution, one ``when`` per behavior (a config has a few dozen at most), each a literal test:
    most patterns are a plain prefix (``/api/*``) or suffix (``*.m3u8``), matched with
    ``starts_with``/``ends_with``; only the others use their ``path_regex`` (a literal pattern: compiled
    once, not once per path). Polars evaluates every branch on every row, so the distribution is
    compared once per distribution, not once per behavior (1.4 s of 3 s over 10M paths).
    """
    rows = behaviors.select("distribution_id", "precedence", "path_pattern", "path_regex").rows()
    if not rows:
        return pl.lit(None, pl.UInt32)
    chains: dict[str, Any] = {}
    for slot, (dist, _precedence, pattern, regex) in enumerate(rows):  # by precedence within a distribution
        chain = chains.get(dist, pl)
        chains[dist] = chain.when(pattern_test(pattern, regex, npath)).then(pl.lit(slot, pl.UInt32))
    expr: Any = pl
    for dist, chain in chains.items():
        expr = expr.when(pl.col("distribution_id") == dist).then(chain.otherwise(pl.lit(None, pl.UInt32)))
    return expr.otherwise(pl.lit(None, pl.UInt32))  # type: ignore[no-any-return]


def logged_precedence(behaviors: pl.DataFrame) -> pl.Expr:
    """The slot of the behavior a log row names in ``logged_behavior`` (null when none has it)."""
    rows = behaviors.select("distribution_id", "precedence", "path_pattern").rows()
    if not rows:
        return pl.lit(None, pl.UInt32)
    expr: Any = pl
    for slot, (dist, _precedence, pattern) in enumerate(rows):
        hit = (pl.col("distribution_id") == dist) & (pl.col("logged_behavior") == pattern)
        expr = expr.when(hit).then(pl.lit(slot, pl.UInt32))
    return expr.otherwise(pl.lit(None, pl.UInt32))  # type: ignore[no-any-return]


def pattern_test(pattern: str, regex: str, npath: pl.Expr) -> pl.Expr:
    """Whether ``npath`` matches a path pattern (the same answer as its ``path_regex``)."""
    parts = literal_parts(pattern)
    if parts is None:
        return npath.str.contains(regex)
    head, tail = parts
    if tail is None:
        return npath == head
    test = pl.lit(True)
    if head:
        test = test & npath.str.starts_with(head)
    if tail:
        test = test & npath.str.ends_with(tail)
    if head and tail:  # the two must not overlap
        test = test & (npath.str.len_bytes() >= len(head.encode()) + len(tail.encode()))
    return test


def id_key(column: str) -> list[pl.Expr]:
    """A request id as two 64-bit hashes under different seeds (null stays null, and matches nothing):
    the key the analyses join WAF records and CloudFront requests on.

    A 56-character id costs ~72 bytes in a column and more in a hash table (every CloudFront id of the
    10M-request bench lake in one: 2.8 GB), and a filtered string column keeps the buffers of every
    row read alive (the 550k WAF-ended ids of 10M records held 0.8 GB); two integers take 16 bytes.
    Two ids share both hashes with probability ~2**-128 per pair (~3e-25 for 10M x 10M pairs).
    """
    return [pl.when(pl.col(column).is_not_null()).then(pl.col(column).hash(seed=s)).alias(f"id{s}") for s in (1, 2)]


ID_KEY = ["id1", "id2"]  # the columns id_key makes
