"""The scenario's web ACL, applied to every request, and the WAF log record of each.

Owns the rule table of ``streamhaul-acl`` (``configs.py`` writes the ``get-web-acl`` JSON from it),
the evaluation of one request against it in priority order (geo watch, anonymous-IP list, known bad
inputs, Common rule set, SQLi, Bot Control scoped to ``/api/``, the ``LoginRateLimit`` rate-based
rule), the rate-based rule's own counting (trailing 300 s evaluated every 10 s), and the exact JSON
line AWS WAF writes (key order, nulls and empty lists as in real CloudFront WAF logs).

A request the ACL blocks is turned into CloudFront's 403 here (``x-edge-result-type`` Error,
detailed type Error), since the origin never sees it.
"""

from __future__ import annotations

import functools
import json
from collections import defaultdict
from dataclasses import dataclass, replace
from typing import Any

from pipeline.scenario.traffic import Request
from pipeline.scenario.world import ACCOUNT, MAIN, WATCHED_COUNTRIES, WEB_ACL_ID, Site

ANON = "AWSManagedRulesAnonymousIpList"
KBI = "AWSManagedRulesKnownBadInputsRuleSet"
CRS = "AWSManagedRulesCommonRuleSet"
SQLI = "AWSManagedRulesSQLiRuleSet"
BOT = "AWSManagedRulesBotControlRuleSet"
GEO_RULE = "BlockedCountriesWatch"
GEO_LABEL = f"awswaf:{ACCOUNT}:webacl:streamhaul-acl:streamhaul:watched-country"
RATE_RULE = "LoginRateLimit"
RATE_LIMIT, RATE_WINDOW_S, RATE_STEP_S, RATE_SCOPE = 1_000, 300, 10, "/api/login"
RATE_RULE_ID = f"arn:aws:wafv2:us-east-1:{ACCOUNT}:global/ipset/{WEB_ACL_ID[:8]}_{RATE_RULE}_IPV4/{RATE_RULE}"
BODY_SIZE_LIMIT = 8_192  # SizeRestrictions_BODY: bodies over 8 KB
INSPECTION_LIMIT = 16_384  # CloudFront's default body inspection limit


@dataclass(frozen=True)
class AclRule:
    """One top-level rule of the web ACL; ``overrides`` are rule-level action overrides inside a group."""

    name: str
    priority: int
    group: str = ""  # managed rule group name; "" for a regular or rate-based rule
    overrides: tuple[str, ...] = ()  # rules set to Count with RuleActionOverrides


ACL_RULES = (
    AclRule(GEO_RULE, 0),
    AclRule(f"AWS-{ANON}", 1, ANON, ("HostingProviderIPList",)),
    AclRule(f"AWS-{KBI}", 2, KBI),
    AclRule(f"AWS-{CRS}", 3, CRS, ("SizeRestrictions_BODY", "CrossSiteScripting_BODY")),
    AclRule(f"AWS-{SQLI}", 4, SQLI, ("SQLi_QUERYARGUMENTS",)),
    AclRule(f"AWS-{BOT}", 5, BOT, ("CategoryHttpLibrary",)),
    AclRule(RATE_RULE, 6),
)
_RULE_NAME = {r.group: r.name for r in ACL_RULES if r.group}

Detail = tuple[str, str, tuple[str, ...], str]  # condition type, location, matched data, field name


@dataclass(frozen=True, slots=True)
class Match:
    group: str  # "AWS#<group>" for a rule inside a rule group, "webacl" for a web-ACL-level rule
    rule_id: str
    action: str  # COUNT or BLOCK
    overridden: str  # the configured action a COUNT replaced ("" when the rule's own action applies)
    details: tuple[Detail, ...] = ()
    terminating: bool = False


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the web ACL did with one request, with its JSON fragments rendered once."""

    action: str
    terminating_rule_id: str
    terminating_rule_type: str
    matches: tuple[Match, ...]
    labels: tuple[str, ...]
    login_scope: bool
    tmd_json: str
    rgl_json: str
    ntmr_json: str
    labels_json: str
    rbrl_json: str = "[]"


def _dump(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _details(details: tuple[Detail, ...]) -> list[dict[str, Any]]:
    out = []
    for cond, location, data, field in details:
        d: dict[str, Any] = {"conditionType": cond}
        if cond == "SQL_INJECTION":
            d["sensitivityLevel"] = "LOW"
        d["location"] = location
        d["matchedData"] = list(data)
        if field:
            d["matchedFieldName"] = field
        out.append(d)
    return out


def _verdict(groups: list[str], matches: list[Match], labels: list[str], login_scope: bool) -> Verdict:
    term = next((m for m in matches if m.terminating), None)
    rgl = []
    for group in groups:
        gid = f"AWS#{group}"
        mine = [m for m in matches if m.group == gid]
        t = next((m for m in mine if m.terminating), None)
        rgl.append(
            {
                "ruleGroupId": gid,
                "terminatingRule": None
                if t is None
                else {"ruleId": t.rule_id, "action": t.action, "ruleMatchDetails": _details(t.details) or None},
                "nonTerminatingMatchingRules": [
                    {
                        "ruleId": m.rule_id,
                        "action": m.action,
                        "overriddenAction": m.overridden,
                        "ruleMatchDetails": _details(m.details),
                    }
                    for m in mine
                    if not m.terminating
                ],
                "excludedRules": None,
                "customerConfig": None,
            }
        )
    acl = [{"ruleId": m.rule_id, "action": m.action, "ruleMatchDetails": []} for m in matches if m.group == "webacl"]
    return Verdict(
        action="BLOCK" if term else "ALLOW",
        terminating_rule_id=_RULE_NAME[term.group[4:]] if term else "Default_Action",
        terminating_rule_type="MANAGED_RULE_GROUP" if term else "REGULAR",
        matches=tuple(matches),
        labels=tuple(labels),
        login_scope=login_scope and term is None,
        tmd_json=_dump(_details(term.details)) if term else "[]",
        rgl_json=_dump(rgl),
        ntmr_json=_dump(acl),
        labels_json=_dump([{"name": n} for n in labels]),
    )


def _http_library(ua: str) -> str:
    for prefix, name in (("python-requests/", "python_requests"), ("Go-http-client/", "go_http"), ("curl/", "curl")):
        if ua.startswith(prefix):
            return name
    return ""


def evaluate(req: Request, cache: dict[tuple[Any, ...], Verdict]) -> Verdict:
    """Run ``req`` through the ACL rules in priority order (a BLOCK stops evaluation)."""
    c = req.client
    api = req.path.startswith("/api/")
    lib = _http_library(req.ua) if api else ""
    big = req.body > BODY_SIZE_LIMIT
    key = (c.country in WATCHED_COUNTRIES, c.hosting, api, req.path.startswith(RATE_SCOPE), lib, big)
    if not req.signals and key in cache:
        return cache[key]
    sig = {s.kind: s for s in req.signals}
    groups: list[str] = []
    matches: list[Match] = []
    labels: list[str] = []

    def done() -> Verdict:
        return _verdict(groups, matches, labels, key[3])

    if key[0]:
        matches.append(Match("webacl", GEO_RULE, "COUNT", ""))
        labels.append(GEO_LABEL)
    groups.append(ANON)
    if c.hosting:
        matches.append(Match(f"AWS#{ANON}", "HostingProviderIPList", "COUNT", "BLOCK"))
        labels.append("awswaf:managed:aws:anonymous-ip-list:HostingProviderIPList")
    groups.append(KBI)
    for kind, rule, label in (
        ("log4j", "Log4JRCE_HEADER", "Log4JRCE_Header"),
        ("javadeser", "JavaDeserializationRCE_HEADER", "JavaDeserializationRCE_Header"),
    ):
        if kind in sig:
            matches.append(Match(f"AWS#{KBI}", rule, "BLOCK", "", terminating=True))
            labels.append(f"awswaf:managed:aws:known-bad-inputs:{label}")
            return done()
    groups.append(CRS)
    if "size_query" in sig:  # query strings over 2 KB: enforced, so legitimate long share links are blocked
        matches.append(Match(f"AWS#{CRS}", "SizeRestrictions_QUERYSTRING", "BLOCK", "", terminating=True))
        labels.append("awswaf:managed:aws:core-rule-set:SizeRestrictions_QueryString")
        return done()
    if big:
        matches.append(Match(f"AWS#{CRS}", "SizeRestrictions_BODY", "COUNT", "BLOCK"))
        labels.append("awswaf:managed:aws:core-rule-set:SizeRestrictions_Body")
    if "xss_body" in sig:
        detail = ("XSS", "BODY", sig["xss_body"].matched, "")
        matches.append(Match(f"AWS#{CRS}", "CrossSiteScripting_BODY", "COUNT", "BLOCK", (detail,)))
        labels.append("awswaf:managed:aws:core-rule-set:CrossSiteScripting_Body")
    for kind, rule, label, location in (
        ("xss_uri", "CrossSiteScripting_URIPATH", "CrossSiteScripting_URIPath", "URI"),
        ("xss_args", "CrossSiteScripting_QUERYARGUMENTS", "CrossSiteScripting_QueryArguments", "QUERY_ARGS"),
    ):
        if kind in sig:
            detail = ("XSS", location, sig[kind].matched, sig[kind].field)
            matches.append(Match(f"AWS#{CRS}", rule, "BLOCK", "", (detail,), terminating=True))
            labels.append(f"awswaf:managed:aws:core-rule-set:{label}")
            return done()
    groups.append(SQLI)
    if "sqli_args" in sig:
        s = sig["sqli_args"]
        detail = ("SQL_INJECTION", "QUERY_ARGS", s.matched, s.field)
        matches.append(Match(f"AWS#{SQLI}", "SQLi_QUERYARGUMENTS", "COUNT", "BLOCK", (detail,)))
        labels.append("awswaf:managed:aws:sql-database:SQLi_QueryArguments")
    if api:  # Bot Control is scoped down to /api/ paths
        groups.append(BOT)
        if lib:
            matches.append(Match(f"AWS#{BOT}", "CategoryHttpLibrary", "COUNT", "BLOCK"))
            labels.extend(
                (
                    "awswaf:managed:aws:bot-control:bot:category:http_library",
                    f"awswaf:managed:aws:bot-control:bot:name:{lib}",
                )
            )
    verdict = done()
    if not req.signals:
        cache[key] = verdict
    return verdict


def decide(requests: list[Request]) -> list[Verdict]:
    """The verdict for every request; blocked requests become CloudFront's own 403."""
    cache: dict[tuple[Any, ...], Verdict] = {}
    verdicts = [evaluate(r, cache) for r in requests]
    for req, v in zip(requests, verdicts, strict=True):
        if v.action == "BLOCK":
            arrival = req.arrival_ms
            req.waf_blocked = True
            req.status, req.result, req.response_result, req.detailed = 403, "Error", "Error", "Error"
            req.obj_type, req.obj_len, req.byte_range = "", 0, None
            req.ttfb_ms = req.taken_ms = 1 + req.port % 4
            req.t_ms = arrival + req.taken_ms
    return verdicts


def apply_rate_rule(requests: list[Request], verdicts: list[Verdict]) -> None:
    """Mark the requests ``LoginRateLimit`` (Count) matched: those arriving while their IP is limited.

    In-scope requests (path starting ``/api/login``, not blocked by an earlier rule) are counted per
    IP. At every evaluation instant t = k*10 s the rule counts its requests with t - 300 s < arrival
    <= t; a request arriving after t (and at or before t + 10 s) matches when that count exceeded
    1,000 at the last evaluation strictly before its arrival.
    """
    by_ip: dict[str, list[int]] = defaultdict(list)
    for i, v in enumerate(verdicts):
        if v.login_scope:
            by_ip[requests[i].client.ip].append(i)
    step, window = RATE_STEP_S * 1000, RATE_WINDOW_S * 1000
    limited: dict[tuple[int, str], Verdict] = {}  # one rendering per (verdict, IP)
    for ip, idxs in by_ip.items():
        idxs.sort(key=lambda i: requests[i].arrival_ms)
        times = [requests[i].arrival_ms for i in idxs]
        hi = lo = 0
        for i, a in zip(idxs, times, strict=True):
            t = (a - 1) // step * step
            while hi < len(times) and times[hi] <= t:
                hi += 1
            while lo < len(times) and times[lo] <= t - window:
                lo += 1
            if hi - lo > RATE_LIMIT:
                v = verdicts[i]
                key = (id(v), ip)
                if key not in limited:
                    limited[key] = _rate_limited(v, ip)
                verdicts[i] = limited[key]


def _rate_limited(v: Verdict, ip: str) -> Verdict:
    match = Match("webacl", RATE_RULE, "COUNT", "")
    acl = [*json.loads(v.ntmr_json), {"ruleId": RATE_RULE, "action": "COUNT", "ruleMatchDetails": []}]
    entry = {
        "rateBasedRuleId": RATE_RULE_ID,
        "rateBasedRuleName": RATE_RULE,
        "limitKey": "IP",
        "maxRateAllowed": RATE_LIMIT,
        "evaluationWindowSec": RATE_WINDOW_S,
        "limitValue": ip,
    }
    return replace(v, matches=(*v.matches, match), ntmr_json=_dump(acl), rbrl_json=_dump([entry]))


@functools.lru_cache(maxsize=200_000)
def _j(text: str) -> str:
    """A JSON string literal (paths and user agents repeat: cached)."""
    return json.dumps(text, ensure_ascii=False)


_ACCEPT = {  # per behavior family
    "api": "application/json, text/plain, */*",
    "video": "*/*",
    "static": "*/*",
    "upload": "application/json, text/plain, */*",
}
_PAGE_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


@functools.lru_cache(maxsize=4)
def _fixed(site: Site) -> tuple[str, str, str]:
    """The parts of every record that only depend on the distribution and its web ACL."""
    return (
        f'{{"timestamp":%d,"formatVersion":1,"webaclId":"{site.web_acl_arn}",',
        f'"httpSourceName":"CF","httpSourceId":"{site.distribution_id}",',
        f'{{"name":"host","value":"{site.alias}"}}',
    )


def _header(name: str, value: str) -> str:
    return f'{{"name":"{name}","value":{_j(value)}}}'


@functools.lru_cache(maxsize=4_096)
def _browser_headers(ua: str, accept: str, host: str) -> str:
    """The headers every request of one browser sends, as JSON array members."""
    return ",".join(
        (
            host,
            _header("user-agent", ua),
            _header("accept", accept),
            '{"name":"accept-encoding","value":"gzip, deflate, br"}',
            '{"name":"accept-language","value":"en-US,en;q=0.9"}',
        )
    )


def line(req: Request, v: Verdict, site: Site = MAIN) -> str:
    """The WAF log record of ``req`` as one JSON line (no trailing newline)."""
    c = req.client
    prefix, source, host = _fixed(site)
    hs = _browser_headers(req.ua, _ACCEPT.get(req.behavior.family, _PAGE_ACCEPT), host)
    if req.referer:
        hs += "," + _header("referer", req.referer)
    for name, value in req.headers:
        hs += "," + _header(name, value)
    if req.body:
        hs += f',{{"name":"content-length","value":"{req.body}"}}'
    if req.byte_range:
        hs += f',{{"name":"range","value":"bytes={req.byte_range[0]}-{req.byte_range[1]}"}}'
    if c.xff:
        hs += "," + _header("x-forwarded-for", c.xff)
    oversize = ',"oversizeFields":["REQUEST_BODY"]' if req.body > INSPECTION_LIMIT else ""
    return (
        prefix
        % req.arrival_ms
        + f'"terminatingRuleId":"{v.terminating_rule_id}","terminatingRuleType":"{v.terminating_rule_type}",'
        f'"action":"{v.action}","terminatingRuleMatchDetails":{v.tmd_json},'
        + source
        + f'"ruleGroupList":{v.rgl_json},"rateBasedRuleList":{v.rbrl_json},"nonTerminatingMatchingRules":'
        f'{v.ntmr_json},"requestHeadersInserted":null,"responseCodeSent":null,"httpRequest":{{"clientIp":'
        f'"{c.ip}","country":"{c.country}","headers":[{hs}],"uri":{_j(req.path)},"args":'
        f'{_j(req.query)},"httpVersion":"{req.http_version}","httpMethod":"{req.method}","requestId":'
        f'"{req.request_id}","fragment":"","scheme":"{req.protocol}","host":"{site.alias}"}},"labels":'
        f'{v.labels_json},"requestBodySize":{req.body},"requestBodySizeInspectedByWAF":'
        f'{min(req.body, INSPECTION_LIMIT)},"ja3Fingerprint":"{c.ja3}","ja4Fingerprint":"{c.ja4}"{oversize}}}'
    )
