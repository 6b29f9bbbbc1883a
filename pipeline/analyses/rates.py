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

from pipeline.analyses.requests import ID_KEY, id_key, in_window
from pipeline.errors import UsageError
from pipeline.lake import Lake

WAF_WINDOWS = (60, 120, 300, 600)  # EvaluationWindowSec values WAF offers
LIMIT_MIN, LIMIT_MAX = 10, 2_000_000_000  # WAF's bounds on a rate-based rule's Limit
EVALUATION_STEP_S = 10  # WAF re-evaluates a rate about every 10 s
DEFAULT_FORWARDED_HEADER = "X-Forwarded-For"
_BIN_US = EVALUATION_STEP_S * 1_000_000
_KEY_STRIDE = 1 << 32  # a key number and a 10 s bin share one int64: bins span up to 1,361 years
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


def _outcomes(lake: Lake, keyed: pl.LazyFrame, narrowed: bool) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """Per key: ``answered`` (ids CloudFront answered) and ``client_errors``/``auth_failures``.

    Both are semi- or inner joins of the keyed (key, id) pairs, never a left join of every record:
    "answered" is existence (so CloudFront's ids need no ``unique()`` first), and the highest status
    is only aggregated over ids with some status >= 400 (7 % of the bench lake's rows), which is all
    the 4xx and auth signals read. As in the SQL, CloudFront's ids are narrowed to the ids in scope
    only when something narrows the WAF records.
    """
    ids = ID_KEY
    cloudfront = lake.scan("cloudfront").select(*id_key("x_edge_request_id"), pl.col("sc_status").alias("status"))
    pairs = keyed.select("key", *id_key("request_id"))
    answered_ids = cloudfront.filter(pl.col("status").is_not_null()).select(ids)
    if narrowed:
        answered_ids = answered_ids.join(pairs.select(ids), on=ids, how="semi")
    answered = pairs.join(answered_ids, on=ids, how="semi").group_by("key").agg(pl.len().alias("answered"))
    errors = cloudfront.filter(pl.col("status") >= 400).group_by(ids).agg(pl.col("status").max())
    status = pl.col("status")
    failed = (
        pairs.join(errors, on=ids, how="inner")
        .group_by("key")
        .agg(
            status.is_between(400, 499).sum().alias("client_errors"),
            status.is_in([401, 403, 429]).sum().alias("auth_failures"),
        )
    )
    return answered, failed


def _key_stats(
    lake: Lake, keyed: pl.LazyFrame, narrowed: bool, allowlist: Sequence[str] | None, min_requests: int
) -> pl.DataFrame:
    """Per key with at least ``min_requests`` requests: the counts the classification reads."""
    labels = pl.col("labels")
    reputation = labels.list.eval(pl.any_horizontal([pl.element().str.starts_with(p) for p in _REPUTATION])).list.any()
    bot = labels.list.eval(pl.element().str.starts_with(_BOT)).list.any()
    verified = labels.list.contains(_VERIFIED_BOT).fill_null(False)
    # most records carry no label: the list tests only run on those that do
    labelled = pl.when(labels.list.len() > 0).then(reputation | (bot & ~verified)).otherwise(False).fill_null(False)
    if allowlist is None:
        allowed = pl.lit(False)
    else:
        listed = pl.Series(list(allowlist), dtype=pl.String).implode()
        allowed = (pl.col("key").is_in(listed) | pl.col("key_ip").is_in(listed)).any()
    base = (
        keyed.group_by("key")
        .agg(
            pl.len().cast(pl.Int64).alias("requests"),
            pl.col("action").is_in(_TERMINATING).fill_null(False).sum().cast(pl.Int64).alias("terminated"),
            labelled.sum().cast(pl.Int64).alias("labelled"),
            allowed.fill_null(False).alias("allowlisted"),
            pl.col("timestamp").min().alias("first_seen"),
        )
        .filter(pl.col("requests") >= min_requests)
    )
    answered, failed = _outcomes(lake, keyed, narrowed)
    counts = ("answered", "client_errors", "auth_failures")
    stats = (
        base.join(answered, on="key", how="left")
        .join(failed, on="key", how="left")
        .with_columns(pl.col(c).fill_null(0).cast(pl.Int64) for c in counts)
    )
    return stats.collect(engine="streaming")


def _distinct_uris(keyed: pl.LazyFrame, stats: pl.DataFrame) -> pl.DataFrame:
    """Distinct URIs, only for keys the other uri_diversity conditions leave possible."""
    ans, ce = pl.col("answered"), pl.col("client_errors")
    possible = stats.filter((pl.col("requests") >= 50) & ((ans == 0) | (5 * ce >= ans))).select("key")
    schema = {"key": pl.String, "distinct_uris": pl.Int64}
    if possible.is_empty():
        return pl.DataFrame(schema=schema)
    return (
        keyed.select("key", "uri")
        .join(possible.lazy(), on="key", how="semi")
        .group_by("key")
        .agg(pl.col("uri").drop_nulls().n_unique().cast(pl.Int64).alias("distinct_uris"))
        .collect(engine="streaming")
        .cast(schema)  # type: ignore[arg-type]
    )


def _ratio_signal(name: str, hit: pl.Expr, count: pl.Expr, total: pl.Expr, suffix: str = "") -> pl.Expr:
    text = pl.concat_str(
        [pl.lit(name + " "), count.cast(pl.String), pl.lit("/"), total.cast(pl.String), pl.lit(suffix)]
    )
    return pl.when(hit).then(text).otherwise(pl.lit(None, pl.String))


def _classified(stats: pl.DataFrame, uris: pl.DataFrame) -> pl.DataFrame:
    """Per key: ``requests``, ``classification`` and ``reasons`` (thresholds: see sql/views/rate_keys.sql)."""
    req, ans = pl.col("requests"), pl.col("answered")
    ce, auth, term, lab, uris_n = (
        pl.col(c) for c in ("client_errors", "auth_failures", "terminated", "labelled", "distinct_uris")
    )
    signals = [
        _ratio_signal("4xx", (ans > 0) & (2 * ce >= ans), ce, ans, " answered"),
        _ratio_signal("auth_failures", (ans > 0) & (4 * auth >= ans), auth, ans, " answered 401/403/429"),
        _ratio_signal("waf_terminated", (term > 0) & (10 * term >= req), term, req),
        _ratio_signal("bot_or_reputation_labels", (lab > 0) & (5 * lab >= req), lab, req),
        _ratio_signal(
            "uri_diversity", (uris_n >= 50) & (5 * uris_n >= 4 * req) & ((ans == 0) | (5 * ce >= ans)), uris_n, req
        ),
    ]
    any_signal = pl.any_horizontal([s.is_not_null() for s in signals])
    allowlisted = pl.col("allowlisted")
    reasons = pl.concat_str(
        [pl.when(allowlisted).then(pl.lit("allowlisted")), *signals], separator="; ", ignore_nulls=True
    )
    return (
        stats.join(uris, on="key", how="left")
        .with_columns(pl.col("distinct_uris").fill_null(0))
        .select(
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
    )


# --- windows ---------------------------------------------------------------------------------------
def _peaks(keyed: pl.LazyFrame, stats: pl.DataFrame, windows: Sequence[int]) -> pl.DataFrame:
    """Per window and key: ``peak_requests`` and ``peak_t`` (the first evaluation instant reaching it).

    Each request becomes one int64, key number * 2**32 + its 10 s bin (counted from the first bin in
    scope), and the 10M of them are sorted once. The count in the window ending at a request's bin is
    then two binary searches in that array, (bin - W/10, bin] of the same key, for every request at
    once: no rolling frame per key and no GROUP BY into bins first (10 s bins barely shrink real
    traffic: 8.9M non-empty (ip, bin) pairs of 10M requests on the bench lake). ~80 MB per 10M requests.
    """
    schema = {"key": pl.String, "peak_requests": pl.Int64, "peak_t": pl.Int64, "window_s": pl.Int32}
    if stats.is_empty():
        return pl.DataFrame(schema=schema)
    us = pl.col("timestamp").dt.epoch("us")
    # Round up to the next multiple of 10 s: a request at exactly t belongs to the window ending at t.
    bin_of = (us // _BIN_US) + (us % _BIN_US > 0).cast(pl.Int64)
    first = stats.select(pl.col("first_seen").min().alias("timestamp")).select(bin_of).item()
    numbered = stats.select("key").with_row_index("key_id")
    packed = (
        keyed.select("key", "timestamp")
        .join(numbered.lazy(), on="key", how="inner")
        .select((pl.col("key_id").cast(pl.Int64) * _KEY_STRIDE + (bin_of - first)).alias("packed"))
        .collect(engine="streaming")
        .get_column("packed")
        .sort()
    )
    ends = packed.search_sorted(packed, side="right")
    frames = []
    for w in windows:
        starts = packed.search_sorted(packed - w // EVALUATION_STEP_S, side="right")
        frames.append(
            pl.DataFrame({"packed": packed, "n": (ends - starts).cast(pl.Int64)})
            .group_by((pl.col("packed") // _KEY_STRIDE).alias("key_id"))
            .agg(
                pl.col("n").max().alias("peak_requests"),
                pl.col("packed").filter(pl.col("n") == pl.col("n").max()).min().alias("peak_packed"),
            )
            .select(
                "key_id",
                "peak_requests",
                (((pl.col("peak_packed") % _KEY_STRIDE) + first) * EVALUATION_STEP_S).alias("peak_t"),
                pl.lit(w, pl.Int32).alias("window_s"),
            )
        )
    return (
        pl.concat(frames)
        .join(numbered.with_columns(pl.col("key_id").cast(pl.Int64)), on="key_id")
        .select(list(schema))
        .cast(schema)  # type: ignore[arg-type]
    )


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
    """The rate-sizing rows, unordered (the rows of the ``rate_keys`` table macro).

    The WAF table is scanned three times (counts per key, the packed bins, the URIs of the few keys
    that can be diverse), never kept whole: each scan holds only its own narrow columns.
    """
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
    narrowed = not (
        start is None
        and end is None
        and distribution is None
        and path_prefix is None
        and method is None
        and key_type in ("ip", "ip_uri")
    )
    stats = _key_stats(lake, keyed, narrowed, allowlist, min_requests)
    classified = _classified(stats, _distinct_uris(keyed, stats))
    peaks = _peaks(keyed, stats, window_list)
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
