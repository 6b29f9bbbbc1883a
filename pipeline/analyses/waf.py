"""The Polars twin of ``sql/waf-fp-candidates.sql``: WAF rules that counted requests they would block.

This module owns the Polars implementation of the analysis; the SQL file's header is the contract
(match kinds, evidence, the fp_score formula and its weights, verdicts, row order) and is not
repeated here beyond what the code needs. Each step below mirrors a CTE of the SQL so the two can be
read side by side: records in the window, one row per rule-group entry, the rule matches of every
kind, their evidence, the score and the reasons. Nothing here imports DuckDB. Memory is bounded by
the matches, not the records read: records stream through in batches, and only the narrow hit rows
and the flat attributes of records with hits are held.
"""

from __future__ import annotations

from datetime import datetime

import polars as pl

from pipeline.analyses.requests import in_window
from pipeline.lake import Lake

KEY = ["rule_group", "rule_id", "match_kind"]
BLOCKING = ["BLOCK", "CAPTCHA", "CHALLENGE"]
GROUP_KINDS = ["managed_rule_group", "rule_group_reference"]
# Lower-cased label substrings that mark a request as bot- or reputation-labelled.
BOT_LABEL_PATTERN = "bot-control|:bot:|anonymous-ip-list|amazon-ip-list|reputation"
# (component, weight): fp_score = sum(weight * component); see the SQL header for each component.
WEIGHTS = {"s_ips": 0.25, "s_rpi": 0.20, "s_ok": 0.25, "s_clean": 0.15, "s_focus": 0.15}
LIST_FACETS = {  # output column -> (facet, limited to `top`)
    "top_uris": ("uri", True),
    "methods": ("method", False),
    "countries": ("country", False),
    "co_rules": ("co_rule", True),
    "locations": ("location", False),
    "sample_matched_data": ("sample", True),
}
COLUMNS = [
    "rule_group",
    "rule_id",
    "match_kind",
    "would_be_action",
    "matches",
    "distinct_ips",
    "requests_per_ip",
    "distinct_uris",
    "top_uris",
    "methods",
    "countries",
    "joined_requests",
    "share_2xx_3xx",
    "bot_labels_share",
    "co_rules",
    "locations",
    "sample_matched_data",
    "fp_score",
    "verdict",
    "reasons",
]
_HIT = ["src", "line", "rule_group", "rule_id", "match_kind", "would_be_action", "details"]
# A match's ruleMatchDetails reduced to what the facets read: one (location, sample) per element.
EVIDENCE = pl.List(pl.Struct({"location": pl.String, "sample": pl.String}))


STRINGS = ["client_ip", "uri", "http_method", "country", "request_id"]  # the flat attributes read
LABELS = [*KEY, "would_be_action"]  # the hit columns held as categoricals (few distinct names)
BATCH_RECORDS = 100_000  # records exploded in memory at a time: ~0.3 GB at a batch's peak


def _evidence(details: pl.Expr) -> pl.Expr:
    d = pl.element().struct
    return details.list.eval(
        pl.struct(d.field("location"), d.field("matched_data").list.join(" ", ignore_nulls=True).alias("sample"))
    )


def _records(lake: Lake, start: datetime | None, end: datetime | None, distribution: str | None) -> pl.LazyFrame:
    """The records a match can come from (as in the SQL's `req`), lazily, with what the hits read.

    Never collected whole: `_hit_rows` streams it in bounded batches. Costs on the 10M-record bench lake
    (27.5M rule-group entries; 2 shared cores, so CPU seconds, not wall): collecting these records with
    their nested rule groups and exploding them at once peaks at 5.3 GB (78 CPU-s); exploding them in
    the streaming engine as one lazy branch per match kind peaks at 3.5 GB and costs 124 CPU-s (the
    branches scan twice and the ordered union buffers); batches of `BATCH_RECORDS` exploded in memory
    peak at 1.2 GB for the whole analysis (81 CPU-s; a bare scan of its columns costs 30 CPU-s).
    Most records match nothing (allowed by default), so the filter below runs first, in the scan.
    ``end_pos`` is the 1-based position of the group entry that ended evaluation (the SQL's `grp_end`),
    found inside each record's list instead of by a group-by and join over all entries: the record's
    action is put in front of the entries' terminating actions, and the last later element equal to it
    is that entry (its index in that list is its position).
    """
    waf = in_window(lake.scan("waf"), start, end, distribution, distribution_column="http_source_id")
    entry = pl.element().struct
    waf = waf.filter(
        (pl.col("action") == "BLOCK").fill_null(False)
        | (pl.col("non_terminating_matching_rules").list.len() > 0).fill_null(False)
        | pl.col("rule_group_list")
        .list.eval(
            entry.field("terminating_rule").is_not_null()
            | (entry.field("non_terminating_matching_rules").list.len() > 0).fill_null(False)
            | (entry.field("excluded_rules").list.len() > 0).fill_null(False)
        )
        .list.any()
        .fill_null(False)
    )
    # An entry without a ruleGroupId is not a group entry (the SQL's `grp` drops it): no action.
    entry_action = (
        pl.when(entry.field("rule_group_id").is_not_null())
        .then(entry.field("terminating_rule").struct.field("action"))
        .otherwise(pl.lit(None, dtype=pl.String))
    )
    actions = pl.concat_list(pl.col("action"), pl.col("rule_group_list").list.eval(entry_action))
    index = pl.int_range(pl.len())
    last_equal = actions.list.eval(index.filter((pl.element() == pl.element().first()) & (index > 0)).max())
    end_pos = (
        pl.when(pl.col("terminating_rule_type").is_in(["GROUP", "MANAGED_RULE_GROUP"]))
        .then(last_equal.list.first())
        .otherwise(pl.lit(None, dtype=pl.Int64))
    )
    return waf.select(
        pl.col("source_file").cast(pl.Categorical).alias("src"),
        pl.col("source_line").alias("line"),
        "webacl_id",
        "action",
        "terminating_rule_id",
        "terminating_rule_match_details",
        "rule_group_list",
        "non_terminating_matching_rules",
        end_pos.alias("end_pos"),
    )


def _attributes(
    lake: Lake, start: datetime | None, end: datetime | None, distribution: str | None, records: pl.DataFrame
) -> pl.DataFrame:
    """The flat per-record attributes the evidence reads, only for ``records`` (src, line) that have hits.

    A second scan of flat columns (a few seconds) instead of carrying them through the explosion of
    every rule-group entry: only the ~1.2M records with hits of the 10M read are kept. They are picked
    by a membership test on one integer per record (the file's category number * 2^32 + line): over a
    third of the bench lake a streaming semi-join on (src, line) peaks 0.9 GB above it, a test on the
    (src, line) struct 0.15 GB. The integer is a prefilter (a line beyond 2^32 could collide); the
    caller's join on (src, line) is the exact match.
    """
    bot = (
        pl.col("labels")
        .list.eval(pl.element().str.to_lowercase().str.contains(BOT_LABEL_PATTERN))
        .list.any()
        .fill_null(False)
    )
    ident = (pl.col("src").to_physical().cast(pl.Int64) * 2**32 + pl.col("line")).alias("ident")
    waf = in_window(lake.scan("waf"), start, end, distribution, distribution_column="http_source_id")
    return (
        waf.select(
            pl.col("source_file").cast(pl.Categorical).alias("src"),
            pl.col("source_line").alias("line"),
            "client_ip",
            "uri",
            "http_method",
            "country",
            "request_id",
            "labels",
        )
        .filter(ident.is_in(records.select(ident)["ident"].implode()))
        .select("src", "line", *[_own(pl.col(c)) for c in STRINGS], bot.alias("bot_labelled"))
        .collect(engine="streaming")
    )


def _own(strings: pl.Expr) -> pl.Expr:
    """The same strings in buffers of their own.

    A filtered string column holds views into the buffers decoded for every row read: the attributes
    of the ~1.2M records with hits kept those of all 10M alive (+0.65 GB at 7.5M records read).
    """
    return pl.concat_str([strings, pl.lit("")])


def _groups(req: pl.LazyFrame) -> pl.LazyFrame:
    """One row per ruleGroupList entry, with its 1-based position and whether it ended evaluation."""
    return (
        req.select(
            "src",
            "line",
            pl.col("action").alias("req_action"),
            "end_pos",
            "rule_group_list",
            pl.int_ranges(1, pl.col("rule_group_list").list.len() + 1).alias("pos"),
        )
        .explode("rule_group_list", "pos")
        .filter(pl.col("rule_group_list").is_not_null())
        .unnest("rule_group_list")
        .filter(pl.col("rule_group_id").is_not_null())
        .with_columns((pl.col("pos") == pl.col("end_pos")).fill_null(False).alias("is_end"))
    )


def _hits(req: pl.LazyFrame, grp: pl.LazyFrame, acl: pl.DataFrame) -> pl.LazyFrame:
    """One row per (record, rule match) of every kind, with that match's evidence."""
    term = pl.col("terminating_rule").struct
    nt = pl.col("nt").struct
    overrides = (
        grp.select("src", "line", "rule_group_id", pl.col("non_terminating_matching_rules").alias("nt"))
        .explode("nt")
        .filter(pl.col("nt").is_not_null())
        .filter((nt.field("action") == "COUNT") & nt.field("overridden_action").is_in(BLOCKING))
        .select(
            "src",
            "line",
            pl.col("rule_group_id").alias("rule_group"),
            nt.field("rule_id"),
            pl.lit("rule_override").alias("match_kind"),
            nt.field("overridden_action").alias("would_be_action"),
            _evidence(nt.field("rule_match_details")).alias("details"),
        )
    )
    ex = pl.col("ex").struct
    excluded = (
        grp.select("src", "line", "rule_group_id", pl.col("excluded_rules").alias("ex"))
        .explode("ex")
        .filter(pl.col("ex").is_not_null())
        .filter(ex.field("exclusion_type") == "EXCLUDED_AS_COUNT")
        .select(
            "src",
            "line",
            pl.col("rule_group_id").alias("rule_group"),
            ex.field("rule_id"),
            pl.lit("excluded").alias("match_kind"),
            pl.lit("BLOCK").alias("would_be_action"),
            pl.lit(None, dtype=EVIDENCE).alias("details"),
        )
    )
    in_group = grp.filter(
        (~pl.col("is_end") & (term.field("action") == "BLOCK")) | (pl.col("is_end") & (pl.col("req_action") == "BLOCK"))
    ).select(
        "src",
        "line",
        pl.col("rule_group_id").alias("rule_group"),
        term.field("rule_id"),
        pl.when(pl.col("is_end")).then(pl.lit("terminating")).otherwise(pl.lit("group_count")).alias("match_kind"),
        term.field("action").alias("would_be_action"),
        _evidence(term.field("rule_match_details")).alias("details"),
    )
    webacl_blocks = req.filter((pl.col("action") == "BLOCK") & pl.col("end_pos").is_null()).select(
        "src",
        "line",
        pl.lit("webacl").alias("rule_group"),
        pl.col("terminating_rule_id").alias("rule_id"),
        pl.lit("terminating").alias("match_kind"),
        pl.lit("BLOCK").alias("would_be_action"),
        _evidence(pl.col("terminating_rule_match_details")).alias("details"),
    )
    would_be = (
        pl.when(nt.field("overridden_action").is_not_null())
        .then(nt.field("overridden_action"))
        .when(pl.col("rule_kind").is_not_null())
        .then(
            pl.when(pl.col("rule_kind").is_in(GROUP_KINDS))
            .then(pl.lit(None, dtype=pl.String))
            .when(pl.col("acl_action") == "COUNT")
            .then(pl.lit("BLOCK"))
            .otherwise(pl.col("acl_action"))
        )
        .otherwise(pl.lit("BLOCK"))
    )
    webacl_counts = (
        req.select("src", "line", "webacl_id", pl.col("non_terminating_matching_rules").alias("nt"))
        .explode("nt")
        .filter(pl.col("nt").is_not_null())
        .filter(nt.field("action") == "COUNT")
        .with_columns(nt.field("rule_id"))
        .join(acl.lazy(), left_on=["webacl_id", "rule_id"], right_on=["web_acl_arn", "rule_name"], how="left")
        .with_columns(would_be.alias("would_be_action"))
        .filter(pl.col("would_be_action").is_in(BLOCKING))
        .select(
            "src",
            "line",
            pl.lit("webacl").alias("rule_group"),
            "rule_id",
            pl.lit("webacl_count").alias("match_kind"),
            "would_be_action",
            _evidence(nt.field("rule_match_details")).alias("details"),
        )
    )
    parts = [overrides, excluded, in_group, webacl_blocks, webacl_counts]
    return pl.concat([p.select(_HIT) for p in parts]).filter(pl.col("rule_id").is_not_null())


def _hit_rows(req: pl.LazyFrame, acl: pl.DataFrame) -> pl.DataFrame:
    """The hits of every record, computed in memory one bounded batch of records at a time.

    Exact batch by batch: every match derives from one record (its own rule groups and action), and
    everything that aggregates over records is computed afterwards from these narrow rows. The rule
    names are made categorical per batch: as strings they are views that keep each batch's decoded
    rule-group buffers alive (~0.3 GB more over a third of the bench lake); the answer casts them back.
    """
    parts = []
    for batch in req.collect_batches(chunk_size=BATCH_RECORDS, maintain_order=False, engine="streaming"):
        records = batch.lazy()
        hits = _hits(records, _groups(records), acl).with_columns(pl.col(LABELS).cast(pl.Categorical))
        parts.append(hits.collect())
    if not parts:
        return pl.DataFrame(
            schema=_hits(req, _groups(req), acl).with_columns(pl.col(LABELS).cast(pl.Categorical)).collect_schema()
        )
    return pl.concat(parts)


def _counts(frame: pl.DataFrame, name: str, value: pl.Expr) -> pl.DataFrame:
    """How often each value of one facet occurs per rule: (rule key, facet, v, n), nulls left out."""
    return (
        frame.select(*KEY, value.cast(pl.String).alias("v"))
        .filter(pl.col("v").is_not_null())
        .group_by(*KEY, "v")
        .agg(pl.len().alias("n"))
        .select(*KEY, pl.lit(name).alias("facet"), "v", "n")
    )


def _detail_counts(hits: pl.DataFrame) -> list[pl.DataFrame]:
    """The location and sample facets, from each match's evidence."""
    d = pl.col("d").struct
    details = (
        hits.select(*KEY, pl.col("details").alias("d"))
        .explode("d")
        .filter(pl.col("d").is_not_null())
        .select(*KEY, d.field("location"), d.field("sample"))
    )
    return [
        _counts(details, "location", pl.col("location")),
        _counts(details, "sample", pl.when(pl.col("sample") != "").then(pl.col("sample"))),
    ]


def _record_counts(keyed: pl.DataFrame, base: pl.DataFrame) -> list[pl.DataFrame]:
    """The uri, method, country and co_rule facets, from the matched records."""
    others = keyed.select(
        "src", "line", pl.col("rule_group").alias("o_group"), pl.col("rule_id").alias("o_rule")
    ).unique()
    co = keyed.join(others, on=["src", "line"]).filter(
        (pl.col("o_group") != pl.col("rule_group")) | (pl.col("o_rule") != pl.col("rule_id"))
    )
    return [
        _counts(base, "uri", pl.col("uri")),
        _counts(base, "method", pl.col("http_method")),
        _counts(base, "country", pl.col("country")),
        _counts(co, "co_rule", pl.concat_str([pl.col("o_group"), pl.lit("/"), pl.col("o_rule")])),
    ]


def _facets(counts: list[pl.DataFrame], top: int) -> pl.DataFrame:
    """The list columns: per rule and facet, values by frequency (descending), ties by value.

    Built from per-facet counts (one row per distinct value), not from one row per value occurrence:
    the occurrences of six facets over ~1.4M matches took 0.5 GB more at the peak.
    """
    ranked = (
        pl.concat(counts)
        .sort([*KEY, "facet", "n", "v"], descending=[False, False, False, False, True, False])
        .with_columns((pl.int_range(pl.len()).over([*KEY, "facet"]) + 1).alias("rn"))
    )
    aggs = []
    for column, (name, limited) in LIST_FACETS.items():
        keep = pl.col("facet") == name
        if limited:
            keep = keep & (pl.col("rn") <= top)
        aggs.append(pl.col("v").filter(keep).alias(column))
    return ranked.group_by(KEY).agg(aggs)


def _reasons(scored: pl.DataFrame) -> pl.DataFrame:
    """One short text per score component, ordered by influence = weight * |component - 0.5|."""

    def plural(n: pl.Expr, one: str, many: str) -> pl.Expr:
        return pl.when(n == 1).then(pl.lit(one)).otherwise(pl.lit(many))

    rpi_tenths = (pl.col("requests_per_ip") * 10 + 0.5).floor().cast(pl.Int64)
    pct_ok = (pl.col("share_2xx_3xx") * 100 + 0.5).floor().cast(pl.Int64).cast(pl.String)
    pct_bot = (pl.col("bot_labels_share") * 100 + 0.5).floor().cast(pl.Int64).cast(pl.String)
    texts = {
        "s_ips": pl.concat_str(
            [pl.col("distinct_ips").cast(pl.String), plural(pl.col("distinct_ips"), " distinct IP", " distinct IPs")]
        ),
        "s_rpi": pl.when(pl.col("requests_per_ip").is_null())
        .then(pl.lit("no client IPs logged"))
        .otherwise(
            pl.concat_str(
                [
                    (rpi_tenths // 10).cast(pl.String),
                    pl.lit("."),
                    (rpi_tenths % 10).cast(pl.String),
                    pl.lit(" requests per IP"),
                ]
            )
        ),
        "s_ok": pl.when(pl.col("share_2xx_3xx").is_null())
        .then(pl.lit("no CloudFront log rows joined"))
        .otherwise(pl.concat_str([pct_ok, pl.lit("% served 2xx/3xx by the origin")])),
        "s_clean": pl.when(pl.col("bot_requests") == 0)
        .then(pl.lit("no bot or reputation labels"))
        .otherwise(pl.concat_str([pct_bot, pl.lit("% carry bot or reputation labels")])),
        "s_focus": pl.concat_str(
            [
                pl.col("distinct_uris").cast(pl.String),
                plural(pl.col("distinct_uris"), " distinct URI in ", " distinct URIs in "),
                pl.col("matches").cast(pl.String),
                plural(pl.col("matches"), " match", " matches"),
            ]
        ),
    }
    long = pl.concat(
        [
            scored.select(
                *KEY,
                (WEIGHTS[c] * (pl.col(c) - 0.5).abs() * 1e6 + 0.5).floor().alias("i"),
                pl.lit(order).alias("o"),
                text.alias("t"),
            )
            for order, (c, text) in enumerate(texts.items(), 1)
        ]
    )
    return (
        long.sort([*KEY, "i", "o"], descending=[False, False, False, True, False])
        .group_by(KEY, maintain_order=True)
        .agg(pl.col("t").alias("reasons"))
    )


def waf_fp_candidates(
    lake: Lake,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    distribution: str | None = None,
    top: int = 5,
) -> pl.DataFrame:
    """WAF false-positive candidates; the same rows as ``sql/waf-fp-candidates.sql``."""
    req = _records(lake, start, end, distribution)
    acl = (
        lake.scan("web_acl_rules")
        .select("web_acl_arn", "rule_name", "rule_kind", pl.col("action").alias("acl_action"))
        .collect()
    )
    hits = _hit_rows(req, acl)
    keyed = hits.select("src", "line", *KEY).unique()
    actions = hits.group_by(KEY).agg(
        pl.col("would_be_action").cast(pl.String).drop_nulls().unique().sort().str.join("|")
    )
    counts = _detail_counts(hits)
    del hits  # the narrow rows are the largest frame held: free them before the attributes are read
    flat = _attributes(lake, start, end, distribution, keyed.select("src", "line").unique())
    cf = (
        lake.scan("cloudfront")
        .select(pl.col("x_edge_request_id").alias("request_id"), pl.col("sc_status").is_between(200, 399).alias("ok"))
        .filter(pl.col("request_id").is_in(flat["request_id"].drop_nulls().unique().implode()))
        .with_columns(_own(pl.col("request_id")))
        .group_by("request_id")
        .agg(pl.col("ok").any(), pl.lit(True).alias("joined"))
        .collect(engine="streaming")
    )
    flat = (
        flat.join(cf, on="request_id", how="left")
        .with_columns(pl.col("joined").fill_null(False), pl.col("ok").fill_null(False))
        .drop("request_id")
    )
    del cf
    base = keyed.join(flat, on=["src", "line"])
    del flat
    stats = base.group_by(KEY).agg(
        pl.len().cast(pl.Int64).alias("matches"),
        pl.col("client_ip").drop_nulls().n_unique().cast(pl.Int64).alias("distinct_ips"),
        pl.col("uri").drop_nulls().n_unique().cast(pl.Int64).alias("distinct_uris"),
        pl.col("joined").sum().cast(pl.Int64).alias("joined_requests"),
        pl.col("ok").sum().cast(pl.Int64).alias("ok_requests"),
        pl.col("bot_labelled").sum().cast(pl.Int64).alias("bot_requests"),
    )
    measured = stats.join(actions, on=KEY).with_columns(
        pl.when(pl.col("distinct_ips") > 0).then(pl.col("matches") / pl.col("distinct_ips")).alias("requests_per_ip"),
        pl.when(pl.col("joined_requests") > 0)
        .then(pl.col("ok_requests") / pl.col("joined_requests"))
        .alias("share_2xx_3xx"),
        (pl.col("bot_requests") / pl.col("matches")).alias("bot_labels_share"),
    )
    scored = measured.with_columns(
        pl.min_horizontal(pl.lit(1.0), pl.max_horizontal(pl.col("distinct_ips"), pl.lit(1)).log10() / 2).alias("s_ips"),
        (1 - pl.col("requests_per_ip").log10() / 2).clip(0.0, 1.0).fill_null(0.5).alias("s_rpi"),
        pl.col("share_2xx_3xx").fill_null(0.5).alias("s_ok"),
        (1 - pl.col("bot_labels_share")).alias("s_clean"),
        (1 - (pl.max_horizontal(pl.col("distinct_uris"), pl.lit(1)) - 1) / pl.col("matches")).alias("s_focus"),
    ).with_columns(pl.sum_horizontal([w * pl.col(c) for c, w in WEIGHTS.items()]).alias("fp_score"))
    facets = _facets(counts + _record_counts(keyed, base), top)
    empty = pl.lit([], dtype=pl.List(pl.String))
    out = (
        scored.join(_reasons(scored), on=KEY, how="left")
        .join(facets, on=KEY, how="left")
        .with_columns(
            *[pl.col(c).fill_null(empty) for c in LIST_FACETS],
            pl.when(pl.col("match_kind") == "terminating")
            .then(pl.lit("already_blocking"))
            .when(pl.col("fp_score") >= 0.6)
            .then(pl.lit("likely_false_positive"))
            .when(pl.col("fp_score") >= 0.35)
            .then(pl.lit("review"))
            .otherwise(pl.lit("likely_true_positive"))
            .alias("verdict"),
            (pl.col("match_kind") == "terminating").alias("_blocking"),
        )
    )
    out = out.with_columns(pl.col(KEY).cast(pl.String))
    return out.sort(["_blocking", "fp_score", *KEY], descending=[False, True, False, False, False]).select(COLUMNS)
