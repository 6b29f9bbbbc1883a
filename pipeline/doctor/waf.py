"""Check 11: the web ACL on each distribution, against the WAF logs (playbook rows 6 and 7, Cost & sizing).

Config: a WAFv2 web ACL that is not CLOUDFRONT-scope in us-east-1 (CloudFront refuses it), no web ACL
at all, capacity above 1,500 WCU (where the price goes up; the maximum is 5,000). With WAF logs: a
managed rule group enforcing (``OverrideAction: None``) whose rules block requests the
``waf-fp-candidates`` evidence calls legitimate -- judged without its "served by the origin" part,
which a block can never earn -- and a rate-based rule whose limit is below the peak of a legitimate
key (``rate-sizing``, scope and window as configured). Fixes edit the web ACL JSON; the Count-to-Block
evidence behind them is ``edgelake report waf-rollout``.
"""

from __future__ import annotations

from typing import Any

from pipeline.doctor import fixes
from pipeline.doctor.context import Context, Distribution, WebAcl
from pipeline.doctor.deploy import arn_region
from pipeline.doctor.model import CheckResult, Fact, Finding, Fix
from pipeline.readers.webacl import uri_prefix

ROW6 = "playbook row 6: legit requests blocked with 403 by WAF (a managed rule false-positives in Block mode)"
ROW7 = "playbook row 7: web ACL created outside us-east-1 or with the wrong scope"
SECURITY = "Security notes: WAF is defense in depth; Best practices (Count first, then Block)"
COST = "Cost & sizing: mind the 1,500 WCU budget"
CAPACITY_PRICE_STEP = 1_500
LEGIT_SCORE = 0.6  # waf-fp-candidates' likely_false_positive threshold
_KEYS = {"IP": "ip", "FORWARDED_IP": "forwarded_ip"}


def check(ctx: Context, result: CheckResult) -> list[Finding]:
    if not ctx.distributions:
        result.status = "not_checked"
        result.needs.append("ingest `aws cloudfront get-distribution --id <ID>` output (WebACLId)")
        return []
    findings: list[Finding] = []
    for dist in ctx.distributions.values():
        requests = ctx.requests_on(dist.id, [b.path_pattern for b in dist.behaviors])
        acl_id = dist.web_acl_id
        if acl_id is None:
            findings.append(_no_acl(dist, requests))
            continue
        if acl_id.startswith("arn:") and (":global/" not in acl_id or arn_region(acl_id) != "us-east-1"):
            findings.append(_wrong_scope(dist, acl_id, requests))
            continue
        acl = ctx.acl_of(dist)
        if acl is None:
            result.notes.append(
                f"{dist.id}: web ACL {acl_id} not ingested: ingest `aws wafv2 get-web-acl --scope CLOUDFRONT "
                "--region us-east-1 ...` output to check it"
            )
            continue
        findings += _capacity(dist, acl, requests)
        if not _has_waf_logs(ctx, dist):
            result.notes.append(f"{dist.id}: no WAF logs: blocks and rate limits not checked against traffic")
            continue
        findings += _fp_blocking(ctx, dist, acl) + _rate_limits(ctx, dist, acl)
    return findings


def _has_waf_logs(ctx: Context, dist: Distribution) -> bool:
    rows, _ = ctx.query("doctor-waf-traffic")
    return any(r["distribution_id"] == dist.id and r["records"] for r in rows)


def _no_acl(dist: Distribution, requests: int) -> Finding:
    return Finding(
        "waf.no-acl",
        "waf.configuration",
        "warn",
        SECURITY,
        {"distribution_id": dist.id},
        f"Distribution {dist.id} has no web ACL: nothing at the edge filters injection, bots or floods.",
        [Fact("web_acl", "WebACLId", None, "config"), Fact("enabled", "distribution enabled", dist.enabled, "config")],
        requests=requests,
        fix=Fix(
            "Create a CLOUDFRONT-scope web ACL in us-east-1 (managed rule groups in Count first, a rate-based rule) "
            "and set its ARN as WebACLId.",
            None,
            commands=(
                "aws wafv2 create-web-acl --name <name> --scope CLOUDFRONT --region us-east-1 --default-action "
                "Allow={} --visibility-config "
                "SampledRequestsEnabled=true,CloudWatchMetricsEnabled=true,MetricName=<name> "
                "--rules file://rules.json",
                f"then set WebACLId to the new ARN with update-distribution --id {dist.id} --if-match <ETag>",
            ),
        ),
    )


def _wrong_scope(dist: Distribution, acl_id: str, requests: int) -> Finding:
    return Finding(
        "waf.acl-scope",
        "waf.configuration",
        "error",
        ROW7,
        {"distribution_id": dist.id, "web_acl": acl_id},
        f"CloudFront would refuse this config: web ACL {acl_id} is not a CLOUDFRONT-scope web ACL in us-east-1.",
        [
            Fact("web_acl", "WebACLId", acl_id, "config"),
            Fact("region", "Region in the ARN", arn_region(acl_id), "config"),
        ],
        requests=requests,
        fix=Fix(
            "Recreate the web ACL with scope CLOUDFRONT in us-east-1 and point WebACLId at it.",
            None,
            commands=("aws wafv2 list-web-acls --scope CLOUDFRONT --region us-east-1",),
        ),
    )


def _capacity(dist: Distribution, acl: WebAcl, requests: int) -> list[Finding]:
    capacity = (acl.document or {}).get("Capacity")
    if not isinstance(capacity, int) or capacity <= CAPACITY_PRICE_STEP:
        return []
    return [
        Finding(
            "waf.capacity",
            "waf.configuration",
            "info",
            COST,
            {"distribution_id": dist.id, "web_acl": acl.name},
            f"Web ACL {acl.name} uses {capacity:,} WCU: above 1,500 every request inspected costs more "
            "(the maximum is 5,000).",
            [
                Fact("capacity", "web ACL capacity (WCU)", capacity, "config"),
                Fact("rules", "rules", [r["rule_name"] for r in acl.rules], "config"),
            ],
            requests=requests,
            fix=Fix(
                "Drop rule groups that do not match the stack, or scope the expensive ones down "
                "(Bot Control to the paths that need it)."
            ),
        )
    ]


def _group_rule(acl: WebAcl, rule_group: str) -> tuple[int, dict[str, Any]] | None:
    """The web ACL rule behind a log's ruleGroupId (``AWS#<name>`` for managed groups)."""
    vendor, _, name = rule_group.partition("#")
    for i, r in enumerate((acl.document or {}).get("Rules") or []):
        stmt = (r.get("Statement") or {}).get("ManagedRuleGroupStatement")
        if isinstance(stmt, dict) and stmt.get("Name") == name and stmt.get("VendorName") == vendor:
            return i, r
    return None


def _legit_score(row: dict[str, Any]) -> float:
    """fp_score without its served-2xx/3xx part (0.25 of it), rescaled: a blocked request is never served."""
    s_ok = row["share_2xx_3xx"] if row["share_2xx_3xx"] is not None else 0.5
    return float((row["fp_score"] - 0.25 * s_ok) / 0.75)


def _fp_blocking(ctx: Context, dist: Distribution, acl: WebAcl) -> list[Finding]:
    rows, cmd = ctx.query("waf-fp-candidates", {"distribution": dist.id, "top": 5})
    out = []
    for r in rows:
        if r["match_kind"] != "terminating" or r["rule_group"] == "webacl":
            continue
        found = _group_rule(acl, r["rule_group"])
        if found is None:
            continue
        index, rule = found
        if "None" not in (rule.get("OverrideAction") or {}):
            continue
        score = _legit_score(r)
        if score < LEGIT_SCORE:
            continue
        stmt = rule["Statement"]["ManagedRuleGroupStatement"]
        overrides = list(stmt.get("RuleActionOverrides") or [])
        override = {"Name": r["rule_id"], "ActionToUse": {"Count": {}}}
        pointer = f"/Rules/{index}/Statement/ManagedRuleGroupStatement/RuleActionOverrides"
        patch = (
            [fixes.add(f"{pointer}/-", override)] if "RuleActionOverrides" in stmt else [fixes.add(pointer, [override])]
        )
        f = Finding(
            "waf.fp-blocking",
            "waf.configuration",
            "warn",
            ROW6,
            {"distribution_id": dist.id, "web_acl": acl.name, "rule": f"{rule['Name']}/{r['rule_id']}"},
            f"{r['rule_id']} in {rule['Name']} (enforcing: OverrideAction None) blocked {r['matches']} requests "
            f"from {r['distinct_ips']} IPs that look legitimate ({', '.join(r['reasons'][:3])}).",
            [
                Fact("matches", "requests the rule blocked", r["matches"], "logs"),
                Fact("distinct_ips", "distinct client IPs", r["distinct_ips"], "logs"),
                Fact("requests_per_ip", "requests per IP", r["requests_per_ip"], "logs"),
                Fact("top_uris", "most blocked URIs", r["top_uris"], "logs"),
                Fact("fp_score", "waf-fp-candidates fp_score", r["fp_score"], "logs"),
                Fact("legit_score", "the same score without its served-by-origin part", score, "logs"),
                Fact(
                    "sample_matched_data",
                    "what the rule matched (attacker-controlled text)",
                    r["sample_matched_data"],
                    "logs",
                ),
                Fact("override_action", "the group's OverrideAction", "None", "config"),
                Fact("rule_action_overrides", "rules already overridden", [o.get("Name") for o in overrides], "config"),
            ],
            queries=[cmd, f"edgelake report waf-rollout --lake {ctx.lake} --distribution {dist.id}"],
            requests=int(r["matches"]),
            fix=fixes.web_acl_fix(
                acl,
                f"Override {r['rule_id']} to Count in {rule['Name']} (exclude that one rule, not the whole group).",
                patch,
                [
                    "Then watch it in Count (edgelake report waf-rollout) and write a narrower rule if the attack it "
                    "stopped matters."
                ],
            ),
        )
        out.append(f)
    return out


def _rate_limits(ctx: Context, dist: Distribution, acl: WebAcl) -> list[Finding]:
    out = []
    for index, rule in enumerate((acl.document or {}).get("Rules") or []):
        stmt = (rule.get("Statement") or {}).get("RateBasedStatement")
        if not isinstance(stmt, dict) or not isinstance(stmt.get("Limit"), int):
            continue
        key = _KEYS.get(str(stmt.get("AggregateKeyType", "IP")))
        scope = stmt.get("ScopeDownStatement")
        prefix = uri_prefix(scope)
        if key is None or (scope is not None and prefix is None):
            continue
        window = str(int(stmt.get("EvaluationWindowSec") or 300))
        params: dict[str, Any] = {"distribution": dist.id, "key_type": key, "windows": [window], "min_requests": 1}
        if prefix is not None:
            params["path_prefix"] = prefix
        if key == "forwarded_ip":
            header = (stmt.get("ForwardedIPConfig") or {}).get("HeaderName")
            if header:
                params["header"] = header
        sized, cmd = ctx.query("rate-sizing", params)
        limit = int(stmt["Limit"])
        over = [s for s in sized if s["classification"] == "legit" and int(s["peak_requests"]) > limit]
        if not over:
            continue
        rec, rec_cmd = ctx.query("rate-limit-recommendation", params)
        recommended = int(rec[0]["recommended_limit"]) if rec else None
        pointer = f"/Rules/{index}/Statement/RateBasedStatement/Limit"
        top = sorted(over, key=lambda s: (-int(s["peak_requests"]), s["key"]))[:5]
        out.append(
            Finding(
                "waf.rate-limit-below-legit",
                "waf.configuration",
                "warn",
                SECURITY,
                {"distribution_id": dist.id, "web_acl": acl.name, "rule": rule["Name"]},
                f"Rate-based rule {rule['Name']} limits at {limit:,} per {window} s, below the peak of "
                f"{len(over)} legitimate key(s) (busiest: {int(top[0]['peak_requests']):,}): it would block them.",
                [
                    Fact("limit", "configured limit", limit, "config"),
                    Fact("window_s", "evaluation window (s)", int(window), "config"),
                    Fact("scope", "scope-down path prefix", prefix, "config"),
                    Fact("legit_keys_over_limit", "legitimate keys whose peak exceeds the limit", len(over), "logs"),
                    Fact("legit_max_peak", "busiest legitimate key's peak", int(top[0]["peak_requests"]), "logs"),
                    Fact(
                        "keys",
                        "busiest legitimate keys (key, peak)",
                        [[s["key"], int(s["peak_requests"])] for s in top],
                        "logs",
                    ),
                    Fact("recommended_limit", "rate-limit-recommendation (25 % headroom)", recommended, "logs"),
                ],
                queries=[cmd, rec_cmd],
                requests=sum(int(s["requests"]) for s in over),
                fix=fixes.web_acl_fix(
                    acl,
                    f"Raise {rule['Name']}'s limit to {recommended:,}."
                    if recommended
                    else f"Raise {rule['Name']}'s limit.",
                    [fixes.replace(pointer, limit, recommended)] if recommended else [],
                    ["Or allowlist the known busy keys (an office NAT) with a higher-priority rule."],
                ),
            )
        )
    return out
