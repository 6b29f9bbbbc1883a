"""Rate-based rule sizing with Polars: the twin of ``sql/views/rate_keys.sql`` and of ``sql/rate-sizing.sql``,
``sql/rate-limit-recommendation.sql`` and ``sql/rate-limit-table.sql``, which select from it.

This module owns the Polars side of sizing an AWS WAF rate-based rule from the ``waf`` table: the
aggregation keys, the trailing-window peaks evaluated every 10 s, the legit/suspect classification and
the limit arithmetic. The SQL files are the contract (the ``rate_keys`` table macro's header states
every key, window and classification rule; the query headers the limit arithmetic); the functions here
compute the same rows with Polars only (no DuckDB) and tests assert that the two engines agree exactly.
Keep any change in step with ``sql/views/rate_keys.sql``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from datetime import datetime

import polars as pl

from pipeline.analyses.requests import in_window
from pipeline.errors import UsageError
from pipeline.lake import Lake

WAF_WINDOWS = (60, 120, 300, 600)  # EvaluationWindowSec values WAF offers
LIMIT_MIN, LIMIT_MAX = 10, 2_000_000_000  # WAF's bounds on a rate-based rule's Limit
EVALUATION_STEP_S = 10  # WAF re-evaluates a rate about every 10 s
DEFAULT_FORWARDED_HEADER = "X-Forwarded-For"
_BIN_US = EVALUATION_STEP_S * 1_000_000
_TERMINATING = ("BLOCK", "CAPTCHA", "CHALLENGE")
_REPUTATION = (
    "awswaf:managed:aws:amazon-ip-list:",
    "awswaf:managed:aws:anonymous-ip-list:",
    "awswaf:managed:aws:atp:",
    "awswaf:managed:aws:acfp:",
)
_BOT = "awswaf:managed:aws:bot-control:"
_VERIFIED_BOT = "awswaf:managed:aws:bot-control:bot:verified"
_IP_LIKE = r"^[0-9A-Fa-f:.]+$"
_DIGITS_4 = re.compile(r"[0-9]{1,4}")
_DIGITS_10 = re.compile(r"[0-9]{1,10}")

# the rate-sizing columns and dtypes, as DuckDB returns them
SIZING_SCHEMA = pl.Schema(
    {
        "window_s": pl.Int32(),
        "key_type": pl.String(),
        "key": pl.String(),
        "peak_requests": pl.Int64(),
        "peak_window_start": pl.Datetime("us", "UTC"),
        "requests": pl.Int64(),
        "classification": pl.String(),
        "reasons": pl.String(),
    }
)


# --- parameters ------------------------------------------------------------------------------------
def parse_windows(windows: Sequence[object]) -> list[int]:
    """The distinct evaluation windows in seconds; anything WAF does not offer is a UsageError."""
    if not windows:
        raise UsageError("windows: give at least one of 60, 120, 300, 600")
    texts = [str(w) for w in windows]
    if not all(_DIGITS_4.fullmatch(t) and int(t) in WAF_WINDOWS for t in texts):
        raise UsageError(f"windows: {','.join(texts)}: each must be a WAF evaluation window (60, 120, 300 or 600 s)")
    return sorted({int(t) for t in texts})


def parse_limits(limits: Sequence[object]) -> list[int]:
    """The distinct candidate limits; each must be a limit WAF accepts (10 ... 2,000,000,000)."""
    if not limits:
        raise UsageError("limits: give at least one candidate limit")
    texts = [str(v) for v in limits]
    if not all(_DIGITS_10.fullmatch(t) and LIMIT_MIN <= int(t) <= LIMIT_MAX for t in texts):
        raise UsageError(
            f"limits: {','.join(texts)}: each must be a WAF rate limit, a whole number from 10 to 2000000000"
        )
    return sorted({int(t) for t in texts})


def recommended_limit(legit_max_peak: int | None, headroom: float) -> int:
    """``clamp(ceil(legit_max_peak * (1 + headroom) - 1e-9), 10, 2e9)``; 10 when there is no legit key."""
    _check_headroom(headroom)
    if legit_max_peak is None:
        return LIMIT_MIN
    return min(LIMIT_MAX, max(LIMIT_MIN, math.ceil(legit_max_peak * (1 + headroom) - 1e-9)))


def _check_headroom(headroom: float) -> None:
    if not math.isfinite(headroom) or headroom < 0:
        raise UsageError("headroom must be a finite number >= 0 (0.25 means 25 % above the busiest legit key)")


# --- keys, outcomes, classification ----------------------------------------------------------------
def _keyed(
    lake: Lake,
    *,
    start: datetime | None,
    end: datetime | None,
    distribution: str | None,
    key_type: str,
    header: str | None,
    path_prefix: str | None,
    method: str | None,
) -> pl.LazyFrame:
    """In-scope WAF requests with their aggregation ``key`` and ``key_ip`` (the IP inside the key)."""
    waf = in_window(
        lake.scan("waf").filter(pl.col("timestamp").is_not_null()),
        start,
        end,
        distribution,
        distribution_column="http_source_id",
    )
    if path_prefix is not None:
        waf = waf.filter(pl.col("uri").str.starts_with(path_prefix))
    if method is not None:
        waf = waf.filter(pl.col("http_method").str.to_uppercase() == method.upper())
    wanted = (header or DEFAULT_FORWARDED_HEADER).lower()
    header_value = (
        pl.col("headers")
        .list.eval(pl.element().filter(pl.element().struct.field("name").str.to_lowercase() == wanted))
        .list.first()
        .struct.field("value")
    )
    first_forwarded = header_value.str.split(",").list.first().str.strip_chars(" ")
    client_ip = pl.col("client_ip")
    if key_type == "ip":
        key, key_ip = client_ip, client_ip
    elif key_type == "ip_uri":
        key, key_ip = pl.concat_str([client_ip, pl.lit(" "), pl.col("uri")]), client_ip
    elif key_type == "forwarded_ip":
        key = pl.when(first_forwarded.str.contains(_IP_LIKE)).then(first_forwarded)
        key_ip = key
    elif key_type == "header":
        key, key_ip = header_value, pl.lit(None, pl.String)
    else:  # the query header's choices make this unreachable through run()
        raise UsageError(f"key_type {key_type!r} is not one of ip, forwarded_ip, ip_uri, header")
    return waf.select(
        "timestamp",
        "uri",
        "action",
        "labels",
        "request_id",
        key.cast(pl.String).alias("key"),
        key_ip.cast(pl.String).alias("key_ip"),
    ).filter(pl.col("key").is_not_null() & (pl.col("key") != ""))


def _flagged(lake: Lake, keyed: pl.LazyFrame) -> pl.LazyFrame:
    """Each keyed request with its CloudFront ``status`` and the ``terminated``/``labelled`` flags."""
    outcomes = (
        lake.scan("cloudfront")
        .select(pl.col("x_edge_request_id").alias("request_id"), pl.col("sc_status").alias("status"))
        .join(keyed.select("request_id").unique(), on="request_id", how="semi")
        .group_by("request_id")
        .agg(pl.col("status").max())
    )
    labels = pl.col("labels")
    reputation = (
        labels.list.eval(pl.any_horizontal([pl.element().str.starts_with(p) for p in _REPUTATION]))
        .list.any()
        .fill_null(False)
    )
    bot = labels.list.eval(pl.element().str.starts_with(_BOT)).list.any().fill_null(False)
    verified = labels.list.contains(_VERIFIED_BOT).fill_null(False)
    return keyed.join(outcomes, on="request_id", how="left").select(
        "key",
        "key_ip",
        "timestamp",
        "uri",
        "status",
        pl.col("action").is_in(_TERMINATING).fill_null(False).alias("terminated"),
        (reputation | (bot & ~verified)).alias("labelled"),
    )


def _ratio_signal(name: str, hit: pl.Expr, count: pl.Expr, total: pl.Expr, suffix: str = "") -> pl.Expr:
    text = pl.concat_str(
        [pl.lit(name + " "), count.cast(pl.String), pl.lit("/"), total.cast(pl.String), pl.lit(suffix)]
    )
    return pl.when(hit).then(text).otherwise(pl.lit(None, pl.String))


def _classified(flagged: pl.LazyFrame, allowlist: Sequence[str] | None, min_requests: int) -> pl.LazyFrame:
    """Per key: ``requests``, ``classification`` and ``reasons`` (thresholds: see sql/views/rate_keys.sql)."""
    status = pl.col("status")
    if allowlist is None:
        allowed = pl.lit(False)
    else:
        listed = pl.Series(list(allowlist), dtype=pl.String).implode()
        allowed = (pl.col("key").is_in(listed) | pl.col("key_ip").is_in(listed)).any()
    stats = (
        flagged.group_by("key")
        .agg(
            pl.len().cast(pl.Int64).alias("requests"),
            status.count().cast(pl.Int64).alias("answered"),
            status.is_between(400, 499).sum().cast(pl.Int64).alias("client_errors"),
            status.is_in([401, 403, 429]).sum().cast(pl.Int64).alias("auth_failures"),
            pl.col("terminated").sum().cast(pl.Int64).alias("terminated"),
            pl.col("labelled").sum().cast(pl.Int64).alias("labelled"),
            pl.col("uri").drop_nulls().n_unique().cast(pl.Int64).alias("distinct_uris"),
            allowed.fill_null(False).alias("allowlisted"),
        )
        .filter(pl.col("requests") >= min_requests)
    )
    req, ans = pl.col("requests"), pl.col("answered")
    ce, auth, term, lab, uris = (
        pl.col(c) for c in ("client_errors", "auth_failures", "terminated", "labelled", "distinct_uris")
    )
    signals = [
        _ratio_signal("4xx", (ans > 0) & (2 * ce >= ans), ce, ans, " answered"),
        _ratio_signal("auth_failures", (ans > 0) & (4 * auth >= ans), auth, ans, " answered 401/403/429"),
        _ratio_signal("waf_terminated", (term > 0) & (10 * term >= req), term, req),
        _ratio_signal("bot_or_reputation_labels", (lab > 0) & (5 * lab >= req), lab, req),
        _ratio_signal(
            "uri_diversity", (uris >= 50) & (5 * uris >= 4 * req) & ((ans == 0) | (5 * ce >= ans)), uris, req
        ),
    ]
    any_signal = pl.any_horizontal([s.is_not_null() for s in signals])
    allowlisted = pl.col("allowlisted")
    reasons = pl.concat_str(
        [pl.when(allowlisted).then(pl.lit("allowlisted")), *signals], separator="; ", ignore_nulls=True
    )
    return stats.select(
        "key",
        "requests",
        pl.when(allowlisted)
        .then(pl.lit("legit"))
        .when(any_signal)
        .then(pl.lit("suspect"))
        .otherwise(pl.lit("legit"))
        .alias("classification"),
        pl.when(reasons == "").then(pl.lit("no suspect signal")).otherwise(reasons).alias("reasons"),
    )


# --- windows ---------------------------------------------------------------------------------------
def _peaks(flagged: pl.LazyFrame, classified: pl.LazyFrame, windows: Sequence[int]) -> pl.DataFrame:
    """Per window and key: ``peak_requests`` and ``peak_t`` (the first evaluation instant reaching it)."""
    us = pl.col("timestamp").dt.epoch("us")
    # Round up to the next multiple of 10 s: a request at exactly t belongs to the window ending at t.
    bin_s = ((us // _BIN_US) + (us % _BIN_US > 0).cast(pl.Int64)) * EVALUATION_STEP_S
    bins = (
        flagged.join(classified.select("key"), on="key", how="semi")
        .group_by("key", bin_s.alias("bin_s"))
        .agg(pl.len().cast(pl.Int64).alias("n"))
        .sort("key", "bin_s")
        .collect()
    )
    frames = []
    for w in windows:
        # closed="right": the window ending at bin t holds the bins in (t - w, t].
        rolled = bins.with_columns(
            pl.col("n").rolling_sum_by("bin_s", f"{w}i", closed="right").over("key").alias("in_window")
        )
        peak = pl.col("in_window").max()
        frames.append(
            rolled.group_by("key")
            .agg(
                peak.cast(pl.Int64).alias("peak_requests"),
                pl.col("bin_s").filter(pl.col("in_window") == peak).min().alias("peak_t"),
            )
            .with_columns(pl.lit(w, pl.Int32).alias("window_s"))
        )
    schema = {"key": pl.String, "peak_requests": pl.Int64, "peak_t": pl.Int64, "window_s": pl.Int32}
    return pl.concat(frames) if frames else pl.DataFrame(schema=schema)


def sized(
    lake: Lake,
    *,
    start: datetime | None,
    end: datetime | None,
    distribution: str | None,
    key_type: str,
    header: str | None,
    windows: Sequence[object],
    path_prefix: str | None,
    method: str | None,
    allowlist: Sequence[str] | None,
    min_requests: int,
) -> pl.DataFrame:
    """The rate-sizing rows, unordered (the rows of the ``rate_keys`` table macro)."""
    window_list = parse_windows(windows)
    if key_type == "header" and header is None:
        raise UsageError("key_type=header needs --param header=<header name>")
    keyed = _keyed(
        lake,
        start=start,
        end=end,
        distribution=distribution,
        key_type=key_type,
        header=header,
        path_prefix=path_prefix,
        method=method,
    )
    flagged = _flagged(lake, keyed).collect().lazy()  # read the lake once; reused below
    classified = _classified(flagged, allowlist, min_requests).collect()
    peaks = _peaks(flagged, classified.lazy(), window_list)
    out = peaks.join(classified, on="key", how="inner").select(
        "window_s",
        pl.lit(key_type, pl.String).alias("key_type"),
        "key",
        "peak_requests",
        pl.from_epoch(pl.col("peak_t") - pl.col("window_s").cast(pl.Int64), time_unit="s")
        .dt.replace_time_zone("UTC")
        .cast(pl.Datetime("us", "UTC"))
        .alias("peak_window_start"),
        "requests",
        "classification",
        "reasons",
    )
    return out.cast(SIZING_SCHEMA)


# --- the three analyses ----------------------------------------------------------------------------
def rate_sizing(
    lake: Lake,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    distribution: str | None = None,
    key_type: str = "ip",
    header: str | None = None,
    windows: Sequence[object] = WAF_WINDOWS,
    path_prefix: str | None = None,
    method: str | None = None,
    allowlist: Sequence[str] | None = None,
    min_requests: int = 20,
) -> pl.DataFrame:
    """One row per key and window (see ``sql/rate-sizing.sql``), ordered by window_s, peak desc, key."""
    rows = sized(
        lake,
        start=start,
        end=end,
        distribution=distribution,
        key_type=key_type,
        header=header,
        windows=windows,
        path_prefix=path_prefix,
        method=method,
        allowlist=allowlist,
        min_requests=min_requests,
    )
    return rows.sort(["window_s", "peak_requests", "key"], descending=[False, True, False])


def rate_limit_recommendation(
    lake: Lake,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    distribution: str | None = None,
    key_type: str = "ip",
    header: str | None = None,
    windows: Sequence[object] = WAF_WINDOWS,
    path_prefix: str | None = None,
    method: str | None = None,
    allowlist: Sequence[str] | None = None,
    min_requests: int = 20,
    headroom: float = 0.25,
) -> pl.DataFrame:
    """One row per window (see ``sql/rate-limit-recommendation.sql``), ordered by window_s."""
    _check_headroom(headroom)
    rows = sized(
        lake,
        start=start,
        end=end,
        distribution=distribution,
        key_type=key_type,
        header=header,
        windows=windows,
        path_prefix=path_prefix,
        method=method,
        allowlist=allowlist,
        min_requests=min_requests,
    )
    legit = pl.col("classification") == "legit"
    grid = pl.DataFrame({"window_s": parse_windows(windows)}, schema={"window_s": pl.Int32})
    peaks = rows.group_by("window_s").agg(pl.col("peak_requests").filter(legit).max().alias("legit_max_peak"))
    limit = (pl.col("legit_max_peak") * (1 + headroom) - 1e-9).ceil().cast(pl.Int64)
    recommended = grid.join(peaks, on="window_s", how="left").with_columns(
        limit.fill_null(LIMIT_MIN).clip(LIMIT_MIN, LIMIT_MAX).alias("recommended_limit")
    )
    over = pl.col("peak_requests") > pl.col("recommended_limit")
    counts = (
        rows.join(recommended.select("window_s", "recommended_limit"), on="window_s")
        .group_by("window_s")
        .agg(
            (over & ~legit).sum().cast(pl.Int64).alias("suspect_keys_over_limit"),
            (over & legit).sum().cast(pl.Int64).alias("legit_keys_over_limit"),
        )
    )
    return (
        recommended.join(counts, on="window_s", how="left")
        .select(
            "window_s",
            pl.lit(key_type, pl.String).alias("key_type"),
            pl.col("recommended_limit").cast(pl.Int64),
            pl.col("legit_max_peak").cast(pl.Int64),
            pl.col("suspect_keys_over_limit").fill_null(0),
            pl.col("legit_keys_over_limit").fill_null(0),
            pl.lit(float(headroom), pl.Float64).alias("headroom"),
        )
        .sort("window_s")
    )


def rate_limit_table(
    lake: Lake,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    distribution: str | None = None,
    key_type: str = "ip",
    header: str | None = None,
    windows: Sequence[object] = WAF_WINDOWS,
    path_prefix: str | None = None,
    method: str | None = None,
    allowlist: Sequence[str] | None = None,
    min_requests: int = 20,
    limits: Sequence[object] = (100, 500, 1000, 2000, 5000, 10000),
) -> pl.DataFrame:
    """One row per window and candidate limit (see ``sql/rate-limit-table.sql``), ordered by both."""
    rows = sized(
        lake,
        start=start,
        end=end,
        distribution=distribution,
        key_type=key_type,
        header=header,
        windows=windows,
        path_prefix=path_prefix,
        method=method,
        allowlist=allowlist,
        min_requests=min_requests,
    )
    limit_list = parse_limits(limits)
    grid = pl.DataFrame({"window_s": parse_windows(windows)}, schema={"window_s": pl.Int32}).join(
        pl.DataFrame({"limit": limit_list}, schema={"limit": pl.Int64}), how="cross"
    )
    legit = pl.col("classification") == "legit"
    over = pl.col("peak_requests") > pl.col("limit")
    excess = pl.col("peak_requests") - pl.col("limit")
    counts = (
        rows.join(grid, on="window_s", how="inner")
        .group_by("window_s", "limit")
        .agg(
            (over & legit).sum().cast(pl.Int64).alias("legit_keys_limited"),
            (over & ~legit).sum().cast(pl.Int64).alias("suspect_keys_limited"),
            excess.filter(over & legit).sum().cast(pl.Int64).alias("legit_requests_over"),
            excess.filter(over & ~legit).sum().cast(pl.Int64).alias("suspect_requests_over"),
        )
    )
    filled = [
        pl.col(c).fill_null(0)
        for c in ("legit_keys_limited", "suspect_keys_limited", "legit_requests_over", "suspect_requests_over")
    ]
    return (
        grid.join(counts, on=["window_s", "limit"], how="left")
        .select("window_s", "limit", *filled)
        .sort("window_s", "limit")
    )
