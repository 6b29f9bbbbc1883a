"""The WAF Count-to-Block rollout report: phases, per-rule evidence and verdicts, exclusions, rate limits.

Owns what the report says and in which order; the numbers come from ``waf-fp-candidates``,
``rate-limit-recommendation``, ``rate-sizing`` and ``rate-limit-table`` (each section shows the
command that reproduces it), the web ACL from the ``web_acl_rules`` table, and sample requests from
the ``waf`` table joined to CloudFront's answer. The markup is built with :mod:`pipeline.reports.html`,
which escapes every value; the rule-group JSON with :mod:`pipeline.reports.exclusions`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from pipeline.errors import UsageError
from pipeline.reports import exclusions as ex
from pipeline.reports import findings, plots
from pipeline.reports.common import Window, analysis, sql_rows
from pipeline.reports.html import Col, Document, Html, code, command, el, join, masthead, pct, table
from pipeline.reports.waf_rates import rate_section

PHASES = (  # the rollout discipline (seed reference, section 6)
    ("1. Deploy", "OverrideAction: Count", "CountedRequests, sampled requests", "A few days of clean signal"),
    ("2. Triage", "still Count", "Which rule ids hit legitimate traffic", "List of rules to exclude"),
    ("3. Exclude", "Count + rule exclusions", "False-positive rate drops to ~0", "No legitimate traffic counted"),
    (
        "4. Enforce",
        "OverrideAction: None (Block)",
        "BlockedRequests, support tickets",
        "Sustained block with no complaints",
    ),
    ("5. Tune", "per-rule overrides", "New false positives over time", "Steady state"),
)


def _acl_context(
    con: Any, web_acl: str | None, distribution: str | None, window: Window
) -> tuple[str | None, str | None, list[ex.AclRule]]:
    """(web ACL label, distribution filter, its rules) for ``--web-acl`` NAME_OR_ARN (or the only one)."""
    from pipeline.query.named import report_query
    from pipeline.query.views import run_named

    rules = run_named(con, report_query("waf-web-acl-rules"), {}).to_pylist()
    seen_query = report_query("waf-web-acls-seen")
    seen = run_named(con, seen_query, seen_query.bind({"start": window.start, "end": window.end})).to_pylist()
    arns = sorted(
        {str(r["webacl_id"]) for r in seen if r["webacl_id"]}
        | {str(r["web_acl_arn"]) for r in rules if r.get("web_acl_arn")}
    )
    if web_acl:
        wanted = [a for a in arns if web_acl in (a, a.split("/webacl/")[-1].split("/")[0])]
        wanted += [str(r["web_acl_arn"]) for r in rules if r["web_acl_name"] == web_acl and r.get("web_acl_arn")]
        if not wanted:
            raise UsageError(
                f"no web ACL {web_acl!r} in this lake's WAF logs or web ACL configs; known: "
                + (", ".join(arns) or "none (ingest WAF logs first)")
            )
        arn: str | None = wanted[0]
    elif len(arns) > 1:
        raise UsageError("this lake holds several web ACLs; choose one with --web-acl: " + ", ".join(arns))
    else:
        arn = arns[0] if arns else None
    dists = sorted({str(r["http_source_id"]) for r in seen if r["webacl_id"] == arn and r["http_source_id"]})
    if distribution is None and web_acl and len(dists) == 1:
        distribution = dists[0]
    elif distribution is None and web_acl and len(dists) > 1:
        raise UsageError(
            f"web ACL {web_acl!r} protects several distributions ({', '.join(dists)}); choose one with --distribution"
        )
    mine = [ex.AclRule.from_row(r) for r in rules if arn is None or r.get("web_acl_arn") in (arn, None)]
    label = (mine[0].web_acl_name if mine else None) or (arn.split("/webacl/")[-1].split("/")[0] if arn else None)
    return label, distribution, mine


def _verdict(v: object) -> Html:
    return el("span", str(v).replace("_", " "), class_=f"badge {v}")


def _phase_states(row: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(css state, text) per phase for one counted rule, from its verdict."""
    verdict, n = row["verdict"], row["matches"]
    deploy = ("state-done", f"counting: {n:,} matches")
    if verdict == "likely_false_positive":
        return [
            deploy,
            ("state-done", "hits legitimate traffic"),
            ("state-now", "exclude: keep it counting"),
            ("state-next", "enforce the rest of the group"),
            ("state-next", "re-run this report weekly"),
        ]
    if verdict == "review":
        return [
            deploy,
            ("state-now", "mixed evidence: read the samples"),
            ("state-next", "decide after review"),
            ("state-next", "after review"),
            ("state-next", ""),
        ]
    return [
        deploy,
        ("state-done", "catches hostile traffic"),
        ("state-done", "no exclusion needed"),
        ("state-now", "ready: remove the Count override"),
        ("state-next", "watch BlockedRequests"),
    ]


def _phase_section(cands: Sequence[Mapping[str, Any]]) -> Html:
    generic = table(
        [
            Col("phase", "Phase"),
            Col("setting", "Action setting"),
            Col("watch", "What you watch"),
            Col("exit", "Exit criterion"),
        ],
        [dict(zip(("phase", "setting", "watch", "exit"), p, strict=True)) for p in PHASES],
    )
    rows = []
    for r in cands:
        states = _phase_states(r)
        cells = [el("td", f"{r['rule_group']} / {r['rule_id']}"), el("td", _verdict(r["verdict"]))]
        cells += [el("td", text, class_=css) for css, text in states]
        rows.append(el("tr", *cells))
    heads = el("tr", *(el("th", h) for h in ("Rule in Count", "Verdict", *(p[0] for p in PHASES))))
    per_rule = (
        el("table", el("thead", heads), el("tbody", *rows), class_="phases")
        if rows
        else el("p", "No rule counted a request it would block in this window.", class_="empty")
    )
    return join(
        [
            el("h2", "Rollout phases", id="phases"),
            el(
                "p",
                "Roll a rule group out in Count, triage which rules hit real users, exclude those, then "
                "enforce and keep tuning. Where each counted rule stands, from the evidence below:",
            ),
            generic,
            el("h3", "Where each counted rule stands"),
            per_rule,
        ]
    )


_EVIDENCE_COLS = [
    Col("rule_group", "Rule group"),
    Col("rule_id", "Rule"),
    Col("match_kind", "Match kind"),
    Col("would_be_action", "Would"),
    Col("matches", "Matches", numeric=True),
    Col("distinct_ips", "IPs", numeric=True),
    Col("requests_per_ip", "Req/IP", numeric=True),
    Col("distinct_uris", "URIs", numeric=True),
    Col("share_2xx_3xx", "Served 2xx/3xx", pct, numeric=True, title="share answered 2xx/3xx by CloudFront"),
    Col("bot_labels_share", "Bot/reputation labels", pct, numeric=True),
    Col("fp_score", "fp_score", numeric=True),
    Col("verdict", "Verdict", _verdict),
]

_SAMPLE_COLS = [
    Col("timestamp", "Time (UTC)"),
    Col("client_ip", "Client IP"),
    Col("country", "Country"),
    Col("method", "Method"),
    Col("uri", "URI", wide=True),
    Col("args", "Query", wide=True),
    Col("user_agent", "User agent", wide=True),
    Col("waf_action", "WAF action"),
    Col("cloudfront_status", "CloudFront status", numeric=True),
]


def _rule_card(
    r: Mapping[str, Any],
    samples: Sequence[Mapping[str, Any]],
    samples_cmd: str,
    acl: Sequence[ex.AclRule],
    verdicts: Mapping[str, Mapping[str, str]],
) -> Html:
    facts = [
        ("Would", r["would_be_action"]),
        ("Top URIs", r["top_uris"][:5]),
        ("Methods", r["methods"]),
        ("Countries", r["countries"]),
        ("Matched in", r["locations"]),
        ("Co-occurring rules", r["co_rules"]),
    ]
    dl = el("dl", *(join([el("dt", k), el("dd", v or "—")]) for k, v in facts), class_="kv")
    matched = r["sample_matched_data"][:5]
    parts = [
        el(
            "h3",
            f"{r['rule_group']} / {r['rule_id']}",
            _verdict(r["verdict"]),
            el("span", f"fp_score {r['fp_score']:.2f}", class_="muted"),
        ),
        el("p", "Why: " + "; ".join(r["reasons"])),
        dl,
        el("h4", "Matched data (as WAF logged it)"),
        el("ul", *(el("li", m) for m in matched), class_="samples")
        if matched
        else el("p", "WAF logged no matched data for this rule.", class_="empty"),
        el("h4", "Sample requests"),
        table(_SAMPLE_COLS, samples),
        command(samples_cmd),
    ]
    parts.append(el("h4", "Exclusion to apply"))
    parts.append(_exclusion(r, acl, verdicts))
    return el("section", *parts, class_="rule", id=f"rule-{r['rule_group']}-{r['rule_id']}-{r['match_kind']}")


def _exclusion(r: Mapping[str, Any], acl: Sequence[ex.AclRule], verdicts: Mapping[str, Mapping[str, str]]) -> Html:
    group, rule_id, verdict = str(r["rule_group"]), str(r["rule_id"]), str(r["verdict"])
    if group == "webacl":
        acl_rule = next((a for a in acl if a.name == rule_id), None)
        what = (
            "Keep this web-ACL rule in Count (do not flip it):"
            if verdict in ex.KEEP_COUNTING
            else "Flip this web-ACL rule to Block:"
        )
        rule = ex.webacl_rule(acl_rule, rule_id, verdict)
        label = (
            "Rule (aws wafv2 update-web-acl --rules)"
            if "Statement" in rule
            else "Action to set on the rule (its statement is not in the ingested web ACL)"
        )
        return join([el("p", what), code(ex.dumps(rule), label=label)])
    acl_rule = ex.find_acl_rule(group, acl)
    where = (
        f"web ACL rule {acl_rule.name!r} (priority {acl_rule.priority})"
        if acl_rule
        else f"the web ACL rule that references {group}"
    )
    if verdict not in ex.KEEP_COUNTING:
        return el(
            "p",
            f"None: this rule catches hostile traffic. Remove its Count override in {where} "
            "(see the group's Enforce rule below).",
        )
    out = [
        el(
            "p",
            f"Keep the rule counting while the rest of the group blocks: add this entry to "
            f"RuleActionOverrides in {where}.",
        ),
        code(ex.dumps(ex.override_entry(rule_id)), label="RuleActionOverrides entry"),
    ]
    prefix = ex.common_prefix(list(r["top_uris"]))
    if prefix:
        covers = (
            "all"
            if int(r["distinct_uris"]) <= len(r["top_uris"])
            else f"the top {len(r['top_uris'])} of {int(r['distinct_uris']):,}"
        )
        rule = ex.scope_down(ex.group_rule(group, verdicts.get(group, {}), acl_rule), prefix)
        out += [
            el(
                "p",
                f"Or scope the group down so it skips paths under {prefix!r} ({covers} matched URIs "
                "share it). This exempts that path from every rule of the group, so prefer the override "
                "unless the whole group misfires there. SearchString is the base64 of the path.",
            ),
            code(ex.dumps(rule), label=f"Rule with a scope-down statement (SearchString = {prefix})"),
        ]
    return join(out)


def _enforce_section(
    cands: Sequence[Mapping[str, Any]], acl: Sequence[ex.AclRule], verdicts: Mapping[str, Mapping[str, str]]
) -> Html:
    blocks = []
    for group in sorted(verdicts):
        if group == "webacl":
            continue
        acl_rule = ex.find_acl_rule(group, acl)
        rule = ex.group_rule(group, verdicts[group], acl_rule)
        keep = [o["Name"] for o in next(iter(rule["Statement"].values())).get("RuleActionOverrides", [])]
        blocks.append(
            join(
                [
                    el("h3", group),
                    el(
                        "p",
                        "Blocks with "
                        + (f"these rules still counting: {', '.join(keep)}." if keep else "no exclusions."),
                    ),
                    code(ex.dumps(rule), label="Rule for the Enforce phase (aws wafv2 update-web-acl)"),
                ]
            )
        )
    intro = el(
        "p",
        "The web-ACL rule of each group for phase 4: OverrideAction None, and RuleActionOverrides only "
        "for rules judged likely false positives or still under review (rules already overridden to "
        "Count that matched nothing keep their override). Keep your rule's VisibilityConfig if it "
        "differs; it is not part of the ingested web ACL table.",
    )
    return join([el("h2", "Enforce: the rule of each group", id="enforce"), intro, *blocks])


def build(
    lake: str,
    *,
    web_acl: str | None = None,
    distribution: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> Document:
    """The report (render it with ``.render()``)."""
    from pipeline.query.views import connect

    window = Window(start, end)
    con = connect(lake)
    try:
        acl_label, dist, acl = _acl_context(con, web_acl, distribution, window)
        base = {**window.params(), "distribution": dist}
        rows, cand_cmd = analysis("waf-fp-candidates", lake, {**base, "top": 20})
        cands = [r for r in rows if r["verdict"] != "already_blocking"]
        verdicts: dict[str, dict[str, str]] = {}
        for r in cands:
            verdicts.setdefault(str(r["rule_group"]), {})[str(r["rule_id"])] = str(r["verdict"])
        cards = []
        for r in cands:
            samples, samples_cmd = sql_rows(
                con,
                lake,
                "waf-rule-samples",
                {
                    "start": window.start,
                    "end": window.end,
                    "distribution": dist,
                    "rule_group": r["rule_group"],
                    "rule_id": r["rule_id"],
                },
            )
            cards.append(_rule_card(r, samples, samples_cmd, acl, verdicts))
        plot_specs: dict[str, Any] = {}
        if rows:
            plot_specs["fp-scores"] = plots.fp_scores(rows)
        rate_html, rate_plots, rate_summary = rate_section(lake, base, acl)
        plot_specs.update(rate_plots)
    finally:
        con.close()
    doctor = findings.diagnose(lake, window, dist, checks=("waf.configuration",))
    counts = {v: sum(1 for r in rows if r["verdict"] == v) for v in plots.VERDICT_COLORS}
    cards_summary = [
        (f"{len(cands)}", "rules counting would-be blocks"),
        (f"{counts['likely_false_positive']}", "likely false positives"),
        (f"{counts['review']}", "to review"),
        (f"{counts['likely_true_positive']}", "likely true positives"),
        (f"{counts['already_blocking']}", "rules already blocking"),
        *rate_summary,
    ]
    title = f"WAF Count-to-Block rollout: {acl_label or 'web ACL'}"
    body = join(
        [
            *masthead(
                title,
                f"Window: {window.describe()}. Distribution: {dist or 'all'}. Generated "
                f"{datetime.now(UTC).strftime('%Y-%m-%d %H:%M')}Z by edgelake.",
                (
                    ("findings", "Findings"),
                    ("phases", "Phases"),
                    ("evidence", "Evidence"),
                    ("rules", "Rules"),
                    ("enforce", "Enforce"),
                    ("rates", "Rate-based rule"),
                ),
                cards_summary,
            ),
            findings.section(
                doctor,
                f"the web ACL configuration and its logs, {window.describe()}",
                findings.doctor_command(lake, window, dist) + " (section waf.configuration)",
            ),
            _phase_section(cands),
            el("h2", "Evidence per rule", id="evidence"),
            el(
                "p",
                "Every rule that counted requests it would block (and, for context, rules already blocking). "
                "fp_score: higher means the matches look like legitimate users (many IPs, few requests each, "
                "served fine by the origin, no bot labels, one path). Verdict thresholds 0.35 and 0.6.",
            ),
            el("div", class_="plot", id="fp-scores", data_spec="fp-scores-data") if rows else Html(""),
            command(cand_cmd),
            table(_EVIDENCE_COLS, rows, empty="No WAF rule matched in this window."),
            el("h2", "Rules in Count: evidence, samples and the exclusion to apply", id="rules"),
            join(cards) if cards else el("p", "No counted rule to triage.", class_="empty"),
            _enforce_section(cands, acl, verdicts),
            rate_html,
        ]
    )
    return Document(title, el("main", body), plot_specs, generated="waf-rollout")
