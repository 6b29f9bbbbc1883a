"""Ground truth: literal counts the generator computes from the requests it wrote.

Owns ``truth.json``: totals; origin failures by target, category and status (and the planted
incident windows); the edge's own errors; cache hit counts per behavior and hour; every WAF rule
that matched, with its expected verdict; and per-IP peak request counts in trailing windows
evaluated the way AWS WAF does. Counting uses only the generator's own knowledge of each request
(the behavior it was generated for, the status it was given): nothing here reads the files back or
uses the pipeline's matchers, so analyses are checked against an independent answer. The
``definitions`` section states every counting rule.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from pipeline.scenario import attacks, incidents, waf
from pipeline.scenario.traffic import DEPLOY_HOUR, HOUR_MS, Request, Traffic
from pipeline.scenario.world import BEHAVIORS, DISTRIBUTION_ID, OFFICE_NAT_IP, STATIC

EDGE_DETAILED = frozenset(
    {
        "CapacityExceeded",
        "LimitExceeded",
        "LambdaExecutionError",
        "FunctionExecutionError",
        "ClientGeoBlocked",
        "ClientCommError",
        "ClientHungUpRequest",
        "InvalidRequest",
    }
)
WINDOWS_S = (60, 120, 300, 600)
STEP_MS = 10_000
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
EXPECTED_VERDICTS = {
    ("AWS#AWSManagedRulesCommonRuleSet", "SizeRestrictions_BODY"): "likely_false_positive",
    ("AWS#AWSManagedRulesCommonRuleSet", "CrossSiteScripting_BODY"): "likely_false_positive",
    ("webacl", "BlockedCountriesWatch"): "likely_false_positive",
    ("AWS#AWSManagedRulesSQLiRuleSet", "SQLi_QUERYARGUMENTS"): "likely_true_positive",
    ("AWS#AWSManagedRulesAnonymousIpList", "HostingProviderIPList"): "likely_true_positive",
    ("AWS#AWSManagedRulesBotControlRuleSet", "CategoryHttpLibrary"): "likely_true_positive",
    ("webacl", "LoginRateLimit"): "likely_true_positive",
}
DEFINITIONS = {
    "timestamps": "CloudFront facts use the standard log's date+time (when the edge finished responding, whole "
    "seconds, UTC). WAF facts use the WAF record's timestamp (request arrival, ms).",
    "windows": "A window [start, end) holds requests with start <= timestamp < end.",
    "failure": "A CloudFront request whose sc_status is 5xx, 429, or in its target group's failover criteria.",
    "failover_exclusions": "Failures are not origin failures, and are left out of `failover`, when WAF blocked the "
    "request (WAF action BLOCK, joined on request id) or when x_edge_detailed_result_type is "
    "one of: " + ", ".join(sorted(EDGE_DETAILED)) + ".",
    "failover_categories": "Target = the serving behavior's TargetOriginId. eligible: target is an origin group, "
    "method GET/HEAD/OPTIONS, status in the group's criteria; gap_status: same but status not "
    "in the criteria; gap_method: target is a group, method POST/PUT/PATCH/DELETE (never here: CloudFront "
    "refuses write methods on a behavior aimed at an origin group, so the scenario routes writes through "
    "the single-origin /api/* and /upload/*); no_group: target is a single origin. first_seen/last_seen: "
    "min/max CloudFront timestamp.",
    "planted": "Each planted fact counts every non-excluded failure of its target and category inside its window "
    "(the planted failures plus any ordinary origin error that happened there). writes_outage is api-primary's "
    "no_group failures in the 5xx storm: the failing writes of /api/*, and reads of /api/me (a read-only "
    "behavior aimed at the group's primary instead of the group) when the storm hit them.",
    "hit_ratio": "cacheable: method not POST/PUT/PATCH/DELETE and x_edge_response_result_type in (Hit, RefreshHit, "
    "Miss) and protocol not ws/wss; hits: response result type Hit or RefreshHit; origin_shield_hits: "
    "cacheable rows whose detailed type is OriginShieldHit (misses at the edge). Bytes are sc_bytes. "
    "Hourly buckets by CloudFront timestamp.",
    "waf_rules": "matches: WAF records in which the rule appears (terminating rule or non-terminating match, "
    "rule-group level or web-ACL level, rule_group `webacl`); distinct_ips over httpRequest.clientIp; "
    "served_2xx_3xx: matched requests whose CloudFront status is 200-399. A rule that matched nothing "
    "is not listed (LoginRateLimit only matches at scales where the bots exceed 1,000 requests in 300 s). "
    "expected_verdict: already_blocking for rules that terminated requests with BLOCK; otherwise the "
    "verdict the planted evidence supports.",
    "rate_peaks": "Per client IP: at every evaluation instant t = k*10 s (epoch-aligned), count requests with "
    "t - window < ts <= t; the peak is the maximum over all t, peak_at the first t reaching it and "
    "peak_window_start = peak_at - window. `cloudfront` uses the standard log timestamp (whole "
    "seconds), `waf` the WAF timestamp (ms). Suspect IPs: the credential-stuffing bots, SQLi "
    "probes and scanners; every other IP is legit (the office NAT is allowlisted). "
    "recommended_limit_before_headroom = max(10, legit_max_peak): the smallest limit that "
    "rate-limits no legit key (WAF acts when the count exceeds the limit).",
}


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms // 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def cf_ms(req: Request) -> int:
    """The CloudFront log timestamp (whole seconds) in epoch ms."""
    return req.t_ms // 1000 * 1000


def failure(req: Request) -> str | None:
    """The failover category of ``req``, ``excluded:<why>`` for an edge decision, None if no failure."""
    b, s = req.behavior, req.status
    if not (s >= 500 or s == 429 or s in b.criteria):
        return None
    if req.waf_blocked:
        return "excluded:waf_blocked"
    if req.detailed in EDGE_DETAILED:
        return f"excluded:{req.detailed}"
    if not b.is_group:
        return "no_group"
    if req.method in WRITES:
        return "gap_method"
    return "eligible" if s in b.criteria else "gap_status"


def _failover(tr: Traffic) -> tuple[dict[str, Any], dict[str, Any]]:
    rows: dict[tuple[str, str, int], list[int]] = {}
    excluded: Counter[str] = Counter()
    failures: list[tuple[int, str, str, int]] = []
    for req in tr.requests:
        cat = failure(req)
        if cat is None:
            continue
        if cat.startswith("excluded:"):
            excluded[f"{cat[9:]}/{req.status}"] += 1
            continue
        t = cf_ms(req)
        failures.append((t, req.behavior.target, cat, req.status))
        row = rows.setdefault((req.behavior.target, cat, req.status), [0, t, t])
        row[0] += 1
        row[1], row[2] = min(row[1], t), max(row[2], t)
    out = [
        {
            "distribution_id": DISTRIBUTION_ID,
            "target": k[0],
            "category": k[1],
            "sc_status": k[2],
            "requests": v[0],
            "first_seen": iso(v[1]),
            "last_seen": iso(v[2]),
        }
        for k, v in sorted(rows.items())
    ]
    planted = {}
    for name, window, target, category in (
        ("storm_5xx", incidents.STORM_5XX, "api-group", "eligible"),
        ("writes_outage", incidents.STORM_5XX, "api-primary", "no_group"),
        ("storm_429", incidents.STORM_429, "web-group", "gap_status"),
        ("storm_429_video", incidents.VIDEO_429, "media-group", "eligible"),
        ("single_origin", incidents.SINGLE_ORIGIN, "upload-origin", "no_group"),
    ):
        lo, hi = incidents.window_ms(tr, window)
        hits = [f for f in failures if lo <= f[0] < hi and f[1] == target and f[2] == category]
        planted[name] = {
            "window": {"start": iso(lo), "end": iso(hi)},
            "target": target,
            "category": category,
            "requests": len(hits),
            "by_status": {str(s): n for s, n in sorted(Counter(f[3] for f in hits).items())},
            "first_seen": iso(min(f[0] for f in hits)) if hits else None,
            "last_seen": iso(max(f[0] for f in hits)) if hits else None,
        }
    return {"rows": out, "excluded": dict(sorted(excluded.items()))}, planted


def _hit_ratio(tr: Traffic) -> dict[str, Any]:
    def zero() -> dict[str, int]:
        return dict.fromkeys(
            ("requests", "cacheable_requests", "hits", "origin_shield_hits", "bytes", "cacheable_bytes", "hit_bytes"), 0
        )

    day: dict[str, dict[str, int]] = defaultdict(zero)
    hourly: dict[tuple[str, int], dict[str, int]] = defaultdict(zero)
    for req in tr.requests:
        hour = (cf_ms(req) - tr.day_start) // HOUR_MS
        for acc in (day[req.behavior.pattern], hourly[(req.behavior.pattern, hour)]):
            acc["requests"] += 1
            acc["bytes"] += req.sc_bytes
            if (
                req.method in WRITES
                or req.response_result not in ("Hit", "RefreshHit", "Miss")
                or req.protocol in ("ws", "wss")
            ):
                continue
            acc["cacheable_requests"] += 1
            acc["cacheable_bytes"] += req.sc_bytes
            if req.response_result != "Miss":
                acc["hits"] += 1
                acc["hit_bytes"] += req.sc_bytes
            elif req.detailed == "OriginShieldHit":
                acc["origin_shield_hits"] += 1
    rows = [
        {"behavior": b, "bucket_start": iso(tr.day_start + h * HOUR_MS), **v}
        for (b, h), v in sorted(
            hourly.items(), key=lambda kv: ([x.pattern for x in BEHAVIORS].index(kv[0][0]), kv[0][1])
        )
    ]

    def ratio(hours: Iterable[int]) -> dict[str, Any]:
        c = sum(hourly[(STATIC.pattern, h)]["cacheable_requests"] for h in hours)
        h_ = sum(hourly[(STATIC.pattern, h)]["hits"] for h in hours)
        return {"cacheable_requests": c, "hits": h_, "hit_ratio": h_ / c if c else None}

    return {
        "by_behavior": {b.pattern: day[b.pattern] for b in BEHAVIORS},
        "hourly": rows,
        "regression": {
            "behavior": STATIC.pattern,
            "deploy_at": iso(tr.deploy_ms),
            "deploy_hour": DEPLOY_HOUR,
            "before": ratio(range(DEPLOY_HOUR)),
            "after": ratio(range(DEPLOY_HOUR, 24)),
        },
    }


def _waf_rules(tr: Traffic, verdicts: list[waf.Verdict]) -> dict[str, Any]:
    tally: dict[tuple[str, str], dict[str, Any]] = {}
    actions: Counter[str] = Counter()
    for req, v in zip(tr.requests, verdicts, strict=True):
        actions[v.action] += 1
        for m in v.matches:
            t = tally.setdefault(
                (m.group, m.rule_id),
                {
                    "action": m.action,
                    "overridden_action": m.overridden or None,
                    "matches": 0,
                    "ips": set(),
                    "uris": set(),
                    "served": 0,
                },
            )
            t["matches"] += 1
            t["ips"].add(req.client.ip)
            t["uris"].add(req.path)
            t["served"] += 200 <= req.status < 400
    rules = []
    for (group, rule), t in sorted(tally.items()):
        blocking = t["action"] == "BLOCK"
        rules.append(
            {
                "rule_group": group,
                "rule_id": rule,
                "action": t["action"],
                "overridden_action": t["overridden_action"],
                "would_block": not blocking,
                "matches": t["matches"],
                "distinct_ips": len(t["ips"]),
                "distinct_uris": len(t["uris"]),
                "served_2xx_3xx": t["served"],
                "expected_verdict": "already_blocking" if blocking else EXPECTED_VERDICTS[(group, rule)],
            }
        )
    return {"records": len(verdicts), "actions": dict(sorted(actions.items())), "rules": rules}


def _peaks(times: list[int]) -> dict[str, dict[str, Any]]:
    """Peak count per window over evaluation instants k*10 s; bucket b holds ((b-1)*10 s, b*10 s]."""
    counts = Counter(-(-ts // STEP_MS) for ts in times)
    buckets = sorted(counts)
    out = {}
    for w in WINDOWS_S:
        span = w * 1000 // STEP_MS
        best = at = lo = run = 0
        for b in buckets:
            run += counts[b]
            while buckets[lo] <= b - span:
                run -= counts[buckets[lo]]
                lo += 1
            if run > best:
                best, at = run, b
        out[str(w)] = {
            "peak_requests": best,
            "peak_at": iso(at * STEP_MS),
            "peak_window_start": iso(at * STEP_MS - w * 1000),
        }
    return out


def _rate_source(times: dict[str, list[int]], suspects: set[str]) -> dict[str, Any]:
    ranked = sorted(times, key=lambda ip: (-len(times[ip]), ip))
    top = [
        {
            "ip": ip,
            "requests": len(times[ip]),
            "classification": "suspect" if ip in suspects else "legit",
            "peaks": _peaks(times[ip]),
        }
        for ip in ranked[:20]
    ]
    legit: dict[str, dict[str, Any]] = {str(w): {"ip": None, "peak_requests": 0} for w in WINDOWS_S}
    for ip in ranked:  # a key's peak never exceeds its request count: stop once no legit key can win
        if len(times[ip]) <= min(v["peak_requests"] for v in legit.values()):
            break
        if ip in suspects:
            continue
        for w, p in _peaks(times[ip]).items():
            if p["peak_requests"] > legit[w]["peak_requests"]:
                legit[w] = {"ip": ip, "peak_requests": p["peak_requests"]}
    return {
        "top_ips": top,
        "legit_max_peak": legit,
        "recommended_limit_before_headroom": {w: max(10, v["peak_requests"]) for w, v in legit.items()},
        "suspect_peaks": {ip: _peaks(times[ip]) for ip in sorted(suspects) if ip in times},
    }


def _actors(tr: Traffic, suspects: dict[str, list[str]], rate: dict[str, Any]) -> dict[str, Any]:
    """The credential-stuffing bots and the office NAT, with their peaks copied from ``rate``."""

    def peaks(ip: str) -> dict[str, dict[str, int]]:
        out = {}
        for name, src in rate["by_source"].items():
            found = src["suspect_peaks"].get(ip) or next(e["peaks"] for e in src["top_ips"] if e["ip"] == ip)
            out[name] = {w: p["peak_requests"] for w, p in found.items()}
        return out

    bots = set(suspects["credential_stuffing"])
    stuffing = [r for r in tr.requests if r.client.ip in bots]
    office = [r for r in tr.requests if r.client.ip == OFFICE_NAT_IP]
    lo, hi = (tr.day_start + h * HOUR_MS + m * 60_000 for h, m in (attacks.STUFFING_START, attacks.STUFFING_END))
    return {
        "credential_stuffing": {
            "window": {"start": iso(lo), "end": iso(hi)},
            "method": "POST",
            "uri": "/api/login",
            "classification": "suspect",
            "ips": sorted(bots),
            "requests": len(stuffing),
            "requests_per_ip": {ip: n for ip, n in sorted(Counter(r.client.ip for r in stuffing).items())},
            "by_status": {str(k): n for k, n in sorted(Counter(r.status for r in stuffing).items())},
            "peaks": {ip: peaks(ip) for ip in sorted(bots)},
        },
        "office_nat": {
            "ip": OFFICE_NAT_IP,
            "classification": "legit",
            "allowlisted": True,
            "requests": len(office),
            "first_seen": iso(min(cf_ms(r) for r in office)) if office else None,
            "last_seen": iso(max(cf_ms(r) for r in office)) if office else None,
            "by_status_class": {k: n for k, n in sorted(Counter(f"{r.status // 100}xx" for r in office).items())},
            "distinct_user_agents": len({r.ua for r in office}),
            "distinct_uris": len({r.path for r in office}),
            "peaks": peaks(OFFICE_NAT_IP) if office else {},
        },
    }


def _rate(tr: Traffic, suspects: dict[str, list[str]]) -> dict[str, Any]:
    bad = {ip for ips in suspects.values() for ip in ips}
    sources: dict[str, dict[str, list[int]]] = {"cloudfront": defaultdict(list), "waf": defaultdict(list)}
    scoped: dict[str, dict[str, list[int]]] = {"cloudfront": defaultdict(list), "waf": defaultdict(list)}
    for req in tr.requests:
        ip = req.client.ip
        sources["cloudfront"][ip].append(cf_ms(req))
        sources["waf"][ip].append(req.arrival_ms)
        if req.path.startswith(waf.RATE_SCOPE):
            scoped["cloudfront"][ip].append(cf_ms(req))
            scoped["waf"][ip].append(req.arrival_ms)
    return {
        "windows_s": list(WINDOWS_S),
        "step_s": STEP_MS // 1000,
        "key_type": "ip",
        "allowlisted_ips": [OFFICE_NAT_IP],
        "suspect_ips": suspects,
        "by_source": {name: _rate_source(times, bad) for name, times in sources.items()},
        "scoped": {
            "uri_prefix": waf.RATE_SCOPE,
            "by_source": {name: _rate_source(times, bad) for name, times in scoped.items()},
        },
    }


def _per_target_status(reqs: list[Request]) -> dict[str, dict[str, int]]:
    """Requests per behavior target (origin or origin group) and status: what ``status-mix`` reports."""
    counts = Counter((r.behavior.target, r.status) for r in reqs)
    out: dict[str, dict[str, int]] = defaultdict(dict)
    for (target, status), n in sorted(counts.items()):
        out[target][str(status)] = n
    return dict(out)


def compute(
    tr: Traffic,
    verdicts: list[waf.Verdict],
    *,
    scenario: dict[str, Any],
    suspects: dict[str, list[str]],
    files: dict[str, dict[str, int]],
    late_lines: int,
) -> dict[str, Any]:
    reqs = tr.requests
    failover, planted = _failover(tr)
    rate = _rate(tr, suspects)
    planted |= _actors(tr, suspects, rate)
    edge = Counter(r.detailed for r in reqs if r.detailed in EDGE_DETAILED)
    edge5 = Counter(
        f"{r.behavior.target}/{r.detailed}" for r in reqs if r.detailed in EDGE_DETAILED and r.status >= 500
    )
    return {
        "scenario": scenario,
        "definitions": DEFINITIONS,
        "totals": {
            "cloudfront_requests": len(reqs),
            "waf_records": len(verdicts),
            "realtime_records": sum(1 for r in reqs if r.behavior.pattern == "/video/*"),
            "late_lines": late_lines,
            "files": {k: len(v) for k, v in files.items()},
            "requests_per_behavior": {b.pattern: sum(1 for r in reqs if r.behavior is b) for b in BEHAVIORS},
            "requests_per_status": {str(s): n for s, n in sorted(Counter(r.status for r in reqs).items())},
            "requests_per_source": dict(sorted(Counter(r.kind for r in reqs).items())),
            "requests_per_target_status": _per_target_status(reqs),
        },
        "failover": failover,
        "planted": planted,
        "edge_errors": {
            "by_detailed_type": dict(sorted(edge.items())),
            "waf_blocked": sum(1 for r in reqs if r.waf_blocked),
            "edge_5xx_by_target": dict(sorted(edge5.items())),
        },
        "hit_ratio": _hit_ratio(tr),
        "waf": _waf_rules(tr, verdicts),
        "rate": rate,
        "files": files,
    }
