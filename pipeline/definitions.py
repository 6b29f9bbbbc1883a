"""Polars twins of the shared SQL definitions (``sql/views/edge_requests.sql``) that layers below the
analyses need too: the follower's rollup counts "cacheable" and "hit" exactly as the analyses do.

Must not: import from the analyses, the query layer or anything that reads the lake.
"""

from __future__ import annotations

import polars as pl

WRITES = ["POST", "PUT", "PATCH", "DELETE"]


def cache_flags(frame: pl.LazyFrame) -> pl.LazyFrame:
    """cacheable / hit / shield_hit exactly as the SQL defines them (NULL compares as false)."""
    return frame.with_columns(
        (
            ~pl.col("method").is_in(WRITES)
            & pl.col("response_result_type").is_in(["Hit", "RefreshHit", "Miss"])
            & ~pl.col("protocol").fill_null("").is_in(["ws", "wss"])
        )
        .fill_null(False)
        .alias("cacheable"),
        pl.col("response_result_type").is_in(["Hit", "RefreshHit"]).fill_null(False).alias("hit"),
        (pl.col("detailed_result_type") == "OriginShieldHit").fill_null(False).alias("shield_hit"),
    )
