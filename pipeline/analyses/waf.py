"""The Polars twin of ``sql/waf-fp-candidates.sql``: WAF rules that counted requests they would block.

This module owns the Polars implementation of the analysis; the SQL file's header is the contract
(match kinds, evidence, the fp_score formula and its weights, verdicts, row order) and is not
repeated here beyond what the code needs. Each step below mirrors a CTE of the SQL so the two can be
read side by side: records in the window, one row per rule-group entry, the rule matches of every
kind, their evidence, the score and the reasons. Nothing here imports DuckDB.

Memory follows what the answer counts, not the records read: records stream through in batches, each
batch's matches are reduced to counts per (rule, value) and per rule (every output column is built
from such counts: sums add across batches, a distinct count is the number of keys), and the partial
counts are combined as they arrive. The one part held per match is its request id as two hashes
(~28 bytes), until CloudFront has been read once for them.
"""

from __future__ import annotations

from datetime import datetime

import polars as pl

from pipeline.analyses.requests import ID_KEY, id_key, in_window
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
_HIT = ["rec", "rule_group", "rule_id", "match_kind", "would_be_action", "details"]
# A match's ruleMatchDetails reduced to what the facets read: one (location, sample) per element.
EVIDENCE = pl.List(pl.Struct({"location": pl.String, "sample": pl.String}))
# The flat attributes of a record that the evidence reads.
ATTRIBUTES = ["client_ip", "uri", "http_method", "country", "request_id", "bot_labelled"]
LABELS = [*KEY, "would_be_action"]  # the hit columns held as categoricals (few distinct names)
# Every value counted per rule: the list facets, plus the client IPs (their keys are distinct_ips) and the
# would-be actions (their keys are would_be_action).
FACET = pl.Enum(["uri", "method", "country", "co_rule", "location", "sample", "ip", "action"])
BATCH_RECORDS = 100_000  # records exploded at a time; 50k or 200k peak within 20 MB of it (the scan alone: 0.49 GB)
# Partial counts held before they are combined: at least this many rows, else as many as the combined
# state has (so each row is re-aggregated a bounded number of times).
PENDING_ROWS = 1_000_000
COUNT_BUCKETS = 8  # the combined counts are folded an eighth at a time (see `_Sums`)


def _evidence(details: pl.Expr) -> pl.Expr:
    d = pl.element().struct
    return details.list.eval(
        pl.struct(d.field("location"), d.field("matched_data").list.join(" ", ignore_nulls=True).alias("sample"))
    )


def _records(lake: Lake, start: datetime | None, end: datetime | None, distribution: str | None) -> pl.LazyFrame:
    """The records a match can come from (as in the SQL's `req`), lazily, with all the evidence reads.

    Never collected whole: `waf_fp_candidates` streams it in bounded batches. Costs on the 10M-record
    bench lake (27.5M rule-group entries; 2 shared cores, so CPU seconds, not wall): collecting these
    records with their nested rule groups and exploding them at once peaks at 5.3 GB (78 CPU-s); exploding
    them in the streaming engine as one lazy branch per match kind peaks at 3.5 GB and costs 124 CPU-s
    (the branches scan twice and the ordered union buffers); batches of `BATCH_RECORDS` exploded in
    memory are what stays bounded. Most records match nothing (allowed by default), so the filter below
    runs first, in the scan. The flat attributes (client IP, URI, ...) ride along in the same batch, so
    no second scan has to find the records with hits again.
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
    bot = (
        pl.col("labels")
        .list.eval(pl.element().str.to_lowercase().str.contains(BOT_LABEL_PATTERN))
        .list.any()
        .fill_null(False)
    )
    return waf.select(
        "webacl_id",
        "action",
        "terminating_rule_id",
        "terminating_rule_match_details",
        "rule_group_list",
        "non_terminating_matching_rules",
        end_pos.alias("end_pos"),
        "client_ip",
        "uri",
        "http_method",
        "country",
        "request_id",
        bot.alias("bot_labelled"),
    )


def _own(strings: pl.Expr) -> pl.Expr:
    """The same strings in buffers of their own.

    A string column cut from a batch (filtered, or the keys of a group-by) holds views into the
    buffers decoded for the whole batch: kept in the combined counts, they would keep every batch's
    buffers alive, which is memory in the number of records read.
    """
    return pl.concat_str([strings, pl.lit("")])


def _groups(req: pl.LazyFrame) -> pl.LazyFrame:
    """One row per ruleGroupList entry, with its 1-based position and whether it ended evaluation."""
    return (
        req.select(
            "rec",
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
    """One row per (record, rule match) of every kind, with that match's evidence; ``rec`` is the record."""
    term = pl.col("terminating_rule").struct
    nt = pl.col("nt").struct
    overrides = (
        grp.select("rec", "rule_group_id", pl.col("non_terminating_matching_rules").alias("nt"))
        .explode("nt")
        .filter(pl.col("nt").is_not_null())
        .filter((nt.field("action") == "COUNT") & nt.field("overridden_action").is_in(BLOCKING))
        .select(
            "rec",
            pl.col("rule_group_id").alias("rule_group"),
            nt.field("rule_id"),
            pl.lit("rule_override").alias("match_kind"),
            nt.field("overridden_action").alias("would_be_action"),
            _evidence(nt.field("rule_match_details")).alias("details"),
        )
    )
    ex = pl.col("ex").struct
    excluded = (
        grp.select("rec", "rule_group_id", pl.col("excluded_rules").alias("ex"))
        .explode("ex")
        .filter(pl.col("ex").is_not_null())
        .filter(ex.field("exclusion_type") == "EXCLUDED_AS_COUNT")
        .select(
            "rec",
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
        "rec",
        pl.col("rule_group_id").alias("rule_group"),
        term.field("rule_id"),
        pl.when(pl.col("is_end")).then(pl.lit("terminating")).otherwise(pl.lit("group_count")).alias("match_kind"),
        term.field("action").alias("would_be_action"),
        _evidence(term.field("rule_match_details")).alias("details"),
    )
    webacl_blocks = req.filter((pl.col("action") == "BLOCK") & pl.col("end_pos").is_null()).select(
        "rec",
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
        req.select("rec", "webacl_id", pl.col("non_terminating_matching_rules").alias("nt"))
        .explode("nt")
        .filter(pl.col("nt").is_not_null())
        .filter(nt.field("action") == "COUNT")
        .with_columns(nt.field("rule_id"))
        .join(acl.lazy(), left_on=["webacl_id", "rule_id"], right_on=["web_acl_arn", "rule_name"], how="left")
        .with_columns(would_be.alias("would_be_action"))
        .filter(pl.col("would_be_action").is_in(BLOCKING))
        .select(
            "rec",
            pl.lit("webacl").alias("rule_group"),
            "rule_id",
            pl.lit("webacl_count").alias("match_kind"),
            "would_be_action",
            _evidence(nt.field("rule_match_details")).alias("details"),
        )
    )
    parts = [overrides, excluded, in_group, webacl_blocks, webacl_counts]
    return (
        pl.concat([p.select(_HIT) for p in parts])
        .filter(pl.col("rule_id").is_not_null())
        .with_columns(pl.col(LABELS).cast(pl.Categorical))
    )


def _counts(frame: pl.LazyFrame, name: str, value: pl.Expr) -> pl.LazyFrame:
    """How often each value of one facet occurs per rule: (rule key, facet, v, n), nulls left out."""
    return (
        frame.select(*KEY, value.cast(pl.String).alias("v"))
        .filter(pl.col("v").is_not_null())
        .group_by(*KEY, "v")
        .agg(pl.len().cast(pl.Int64).alias("n"))
        .select(*KEY, pl.lit(name, dtype=FACET).alias("facet"), "v", "n")
    )


def _partials(batch: pl.DataFrame, acl: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """One batch of records reduced to what the answer adds up: (counts, stats, ids).

    Exact batch by batch: every match derives from one record (its own rule groups, action and
    attributes), and every output column is a sum over matches of a per-(rule, value) or per-rule count.
    ``counts`` is (rule key, facet, value, n) for every facet value, the client IPs and the would-be
    actions; ``stats`` is matches and bot-labelled matches per rule; ``ids`` is one row per match with
    a request id (rule key, id1, id2), the only part that cannot be reduced before CloudFront is read.
    """
    records = batch.lazy().with_row_index("rec")
    hits = _hits(records, _groups(records), acl).collect()
    keyed = hits.lazy().select("rec", *KEY).unique()
    base = keyed.join(records.select("rec", *ATTRIBUTES), on="rec")
    others = keyed.select("rec", pl.col("rule_group").alias("o_group"), pl.col("rule_id").alias("o_rule")).unique()
    co = keyed.join(others, on="rec").filter(
        (pl.col("o_group") != pl.col("rule_group")) | (pl.col("o_rule") != pl.col("rule_id"))
    )
    d = pl.col("d").struct
    details = (
        hits.lazy()
        .select(*KEY, pl.col("details").alias("d"))
        .explode("d")
        .filter(pl.col("d").is_not_null())
        .select(*KEY, d.field("location"), d.field("sample"))
    )
    counts = pl.concat(
        [
            _counts(base, "uri", pl.col("uri")),
            _counts(base, "method", pl.col("http_method")),
            _counts(base, "country", pl.col("country")),
            _counts(co, "co_rule", pl.concat_str([pl.col("o_group").cast(pl.String), pl.lit("/"), pl.col("o_rule")])),
            _counts(details, "location", pl.col("location")),
            _counts(details, "sample", pl.when(pl.col("sample") != "").then(pl.col("sample"))),
            _counts(base, "ip", pl.col("client_ip")),
            _counts(hits.lazy(), "action", pl.col("would_be_action")),
        ]
    ).with_columns(_own(pl.col("v")))
    stats = base.group_by(KEY).agg(
        pl.len().cast(pl.Int64).alias("matches"), pl.col("bot_labelled").sum().cast(pl.Int64).alias("bot_requests")
    )
    ids = base.select(*KEY, *id_key("request_id")).filter(pl.col("id1").is_not_null())
    counts_df, stats_df, ids_df = pl.collect_all([counts, stats, ids])
    return counts_df, stats_df, ids_df


class _Sums:
    """Partial counts combined as they arrive: rows with equal ``keys`` add their ``values``.

    Memory follows the distinct keys, not the batches: pending partials are folded into the state as
    soon as they outnumber it (and ``PENDING_ROWS``), so every row is re-aggregated a bounded number of
    times on average. A fold is a group-by, whose hash tables and output take ~3x the frame it reads
    (1.8M counts, 86 MB: +250 MB): the rows are spread over ``buckets`` by a hash of ``bucket_by``, and
    each bucket is folded alone, so a fold reads a ``buckets``-th of the state.
    """

    def __init__(self, keys: list[str], values: list[str], *, bucket_by: str | None = None, buckets: int = 1) -> None:
        self.keys, self.values = keys, values
        self.bucket_by, self.buckets = bucket_by, buckets
        self.state: list[pl.DataFrame | None] = [None] * buckets
        self.pending: list[list[pl.DataFrame]] = [[] for _ in range(buckets)]
        self.pending_rows = [0] * buckets

    def add(self, part: pl.DataFrame) -> None:
        if self.bucket_by is None or self.buckets == 1:
            self._add(0, part)
            return
        bucket = (pl.col(self.bucket_by).hash(seed=3) % self.buckets).alias("_bucket")
        for key, piece in part.with_columns(bucket).partition_by("_bucket", as_dict=True, include_key=False).items():
            self._add(int(key[0]), piece)

    def _add(self, b: int, part: pl.DataFrame) -> None:
        self.pending[b].append(part)
        self.pending_rows[b] += part.height
        state = self.state[b]
        if self.pending_rows[b] > max(PENDING_ROWS // self.buckets, 0 if state is None else state.height):
            self._fold(b)

    def _fold(self, b: int) -> None:
        state = self.state[b]
        parts = self.pending[b] if state is None else [state, *self.pending[b]]
        self.state[b] = pl.concat(parts).group_by(self.keys).agg(pl.col(self.values).sum())
        self.pending[b], self.pending_rows[b] = [], 0

    def result(self) -> pl.DataFrame | None:
        for b in range(self.buckets):
            if self.pending[b]:
                self._fold(b)
        states = [s for s in self.state if s is not None]
        return pl.concat(states) if states else None


def _outcomes(lake: Lake, ids: pl.DataFrame) -> pl.DataFrame:
    """Per rule: joined_requests and ok_requests (matches whose request id CloudFront answered 2xx/3xx).

    One streaming pass over CloudFront's ids and statuses, keeping the rows of the ids in ``ids`` (the
    matches' request ids as hashes, ~28 bytes a match), then an outcome per id joined to the matches.
    The other way, a map of every CloudFront id to its outcome looked up batch by batch, grows with
    CloudFront's rows instead: over half the bench lake (5.2M ids) it holds 84 MB and building it
    peaks at 0.69 GB, where these hashes hold 20 MB and this pass adds nothing to the peak.
    """
    wanted = ids["id1"].unique().implode()
    cf = (
        lake.scan("cloudfront")
        .filter(pl.col("x_edge_request_id").is_not_null())
        .select(*id_key("x_edge_request_id"), pl.col("sc_status").is_between(200, 399).alias("ok"))
        .filter(pl.col("id1").is_in(wanted))
        .group_by(ID_KEY)
        .agg(pl.col("ok").any())
        .collect(engine="streaming")
    )
    return (
        ids.join(cf, on=ID_KEY, how="left")
        .group_by(KEY)
        .agg(
            pl.col("ok").is_not_null().sum().cast(pl.Int64).alias("joined_requests"),
            pl.col("ok").fill_null(False).sum().cast(pl.Int64).alias("ok_requests"),
        )
    )


def _facets(counts: pl.DataFrame, top: int) -> pl.DataFrame:
    """The list columns: per rule and facet, values by frequency (descending), ties by value.

    Only the values that can rank within ``top`` are sorted: a value of a limited facet counted fewer
    times than that facet's ``top``-th largest count is left out first (most URIs, seen once or twice).
    Sorting every (rule, URI) count by the rule names took 2.9 CPU-s over half the bench lake.
    """
    group = [*KEY, "facet"]
    limited = pl.col("facet").is_in([name for name, lim in LIST_FACETS.values() if lim])
    # top_k(0) would keep no threshold: with top <= 0 the limited facets are empty anyway
    contender = ~limited | (pl.col("n") >= pl.col("n").top_k(top).min().over(group)) if top > 0 else ~limited
    ranked = (
        counts.filter(pl.col("facet").is_in([name for name, _ in LIST_FACETS.values()]))
        .filter(contender)
        .sort([*(pl.col(c).to_physical() for c in group), "n", "v"], descending=[False] * len(group) + [True, False])
        .with_columns((pl.int_range(pl.len()).over(group) + 1).alias("rn"))
    )
    aggs = []
    for column, (name, lim) in LIST_FACETS.items():
        keep = pl.col("facet") == name
        if lim:
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
    """WAF false-positive candidates; the same rows as ``sql/waf-fp-candidates.sql``.

    Memory follows the distinct (rule, value) pairs and the matches' request-id hashes, not the
    records: each batch of records is reduced to partial counts (see `_partials`) and combined.
    """
    acl = (
        lake.scan("web_acl_rules")
        .select("web_acl_arn", "rule_name", "rule_kind", pl.col("action").alias("acl_action"))
        .collect()
    )
    req = _records(lake, start, end, distribution)
    counts = _Sums([*KEY, "facet", "v"], ["n"], bucket_by="v", buckets=COUNT_BUCKETS)
    stats = _Sums(KEY, ["matches", "bot_requests"])
    ids: list[pl.DataFrame] = []
    for batch in req.collect_batches(chunk_size=BATCH_RECORDS, maintain_order=False, engine="streaming"):
        batch_counts, batch_stats, batch_ids = _partials(batch, acl)
        counts.add(batch_counts)
        stats.add(batch_stats)
        ids.append(batch_ids)
    empty_counts, empty_stats, empty_ids = _partials(req.clear().collect(), acl)
    all_counts = counts.result()
    all_counts = empty_counts if all_counts is None else all_counts
    all_stats = stats.result()
    all_stats = empty_stats if all_stats is None else all_stats
    outcomes = _outcomes(lake, pl.concat([empty_ids, *ids]))
    del ids
    per_rule = all_counts.filter(pl.col("facet").is_in(["ip", "uri", "action"])).group_by(KEY)
    distinct = per_rule.agg(
        (pl.col("facet") == "ip").sum().cast(pl.Int64).alias("distinct_ips"),
        (pl.col("facet") == "uri").sum().cast(pl.Int64).alias("distinct_uris"),
        pl.col("v").filter(pl.col("facet") == "action").sort().str.join("|").alias("would_be_action"),
    )
    measured = (
        all_stats.join(distinct, on=KEY, how="left")
        .join(outcomes, on=KEY, how="left")
        .with_columns(pl.col("distinct_ips", "distinct_uris", "joined_requests", "ok_requests").fill_null(0))
        .with_columns(
            pl.when(pl.col("distinct_ips") > 0)
            .then(pl.col("matches") / pl.col("distinct_ips"))
            .alias("requests_per_ip"),
            pl.when(pl.col("joined_requests") > 0)
            .then(pl.col("ok_requests") / pl.col("joined_requests"))
            .alias("share_2xx_3xx"),
            (pl.col("bot_requests") / pl.col("matches")).alias("bot_labels_share"),
        )
    )
    scored = measured.with_columns(
        pl.min_horizontal(pl.lit(1.0), pl.max_horizontal(pl.col("distinct_ips"), pl.lit(1)).log10() / 2).alias("s_ips"),
        (1 - pl.col("requests_per_ip").log10() / 2).clip(0.0, 1.0).fill_null(0.5).alias("s_rpi"),
        pl.col("share_2xx_3xx").fill_null(0.5).alias("s_ok"),
        (1 - pl.col("bot_labels_share")).alias("s_clean"),
        (1 - (pl.max_horizontal(pl.col("distinct_uris"), pl.lit(1)) - 1) / pl.col("matches")).alias("s_focus"),
    ).with_columns(pl.sum_horizontal([w * pl.col(c) for c, w in WEIGHTS.items()]).alias("fp_score"))
    empty = pl.lit([], dtype=pl.List(pl.String))
    out = (
        scored.join(_reasons(scored), on=KEY, how="left")
        .join(_facets(all_counts, top), on=KEY, how="left")
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
