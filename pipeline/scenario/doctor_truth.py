"""The findings ``edgelake doctor`` must report on the scenario, counted by the generator itself.

Owns the ``doctor`` section of ``truth.json``: for each misconfiguration planted in the main
distribution's config (``configs.py``, ``policies.py``) and each problem its traffic shows, the finding
expected (its id and subject exactly) and the evidence counts, recounted here from the generator's own
requests with the same rules ``truth.py`` states for failures; the findings of the draft CloudFront
would refuse; and the clean twin, for which the list is empty. Nothing here reads a file back or uses
the pipeline's code.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date
from typing import Any

from pipeline.scenario import configs, plants, policies, truth, waf
from pipeline.scenario.traffic import Request, Traffic
from pipeline.scenario.world import API_ME, API_RECS, BEHAVIORS, DEFAULT, DRAFT_ID, MAIN, STATIC, TWIN

EDGE_KINDS = ("CapacityExceeded", "LimitExceeded", "LambdaExecutionError", "FunctionExecutionError")
_GROUP_MEMBERS = {g: (p, s) for g, p, s in configs.GROUPS}
DEFINITIONS = {
    "findings": "One entry per finding the doctor must report over the whole day: id and subject exactly as the "
    "doctor writes them, and `facts`: evidence values it must show (counts recounted from the generator's "
    "requests; failures as defined in `definitions.failure` of the truth, left out as in "
    "`definitions.failover_exclusions`).",
    "origin_errors": "Per origin: failures whose detailed result type starts with Origin; the origin is the "
    "single-origin target, else (origin groups) the secondary when the status is in the group's criteria "
    "(CloudFront retried there and logged its answer), else the primary.",
    "twin": "The clean twin's distribution and web ACL: the doctor must report nothing about them.",
    "draft": "An infrastructure-code draft (get-distribution-config, no logs) with five refusals.",
}


def _statuses(reqs: list[Request]) -> dict[str, int]:
    return {str(s): n for s, n in sorted(Counter(r.status for r in reqs).items())}


def _failures(reqs: list[Request]) -> dict[int, str]:
    """id(request) -> failover category, for every failure that is not an edge decision."""
    out = {}
    for r in reqs:
        category = truth.failure(r)
        if category is not None and not category.startswith("excluded:"):
            out[id(r)] = category
    return out


def compute(
    tr: Traffic,
    verdicts: list[waf.Verdict],
    twin: Traffic,
    twin_files: dict[str, dict[str, int]],
    day: date,
    hit_ratio: dict[str, Any],
) -> dict[str, Any]:
    reqs = tr.requests
    fails = _failures(reqs)
    dist = MAIN.distribution_id
    found: list[dict[str, Any]] = []

    def add(fid: str, subject: dict[str, str], facts: dict[str, Any]) -> None:
        found.append({"id": fid, "subject": {"distribution_id": dist, **subject}, "facts": facts})

    on_me = [r for r in reqs if r.behavior is API_ME]
    failed_me = [r for r in on_me if id(r) in fails]
    add(
        "failover.silently-off",
        {"behavior": API_ME.pattern, "origin": "api-primary", "origin_group": "api-group"},
        {"requests": len(on_me), "failures": len(failed_me), "by_status": _statuses(failed_me)},
    )
    for b in BEHAVIORS:
        gap = [r for r in reqs if r.behavior is b and fails.get(id(r)) == "gap_status"]
        if gap:
            only_429 = {r.status for r in gap} == {429}
            add(
                "failover.gap-429" if only_429 else "failover.gap-status",
                {"behavior": b.pattern, "origin_group": b.target, "origin": _GROUP_MEMBERS[b.target][0]},
                {"failures": len(gap), "by_status": _statuses(gap)},
            )
        writes = [r for r in reqs if r.behavior is b and r.is_write and fails.get(id(r)) == "no_group"]
        if writes:
            add(
                "failover.writes-unprotected",
                {"behavior": b.pattern, "origin": b.target},
                {"failures": len(writes), "by_status": _statuses(writes)},
            )
    add(
        "edge-code.hides-failures",
        {"behavior": API_RECS.pattern, "origin_group": API_RECS.target},
        {
            "failures": sum(1 for r in reqs if r.behavior is API_RECS and id(r) in fails),
            "constant_body_bytes": len(plants.LAMBDA_BODY),
            "constant_body_responses": plants.constant_bodies(reqs),
        },
    )
    add(
        "cache.hit-ratio-regression",
        {"behavior": STATIC.pattern, "cache_policy": policies.STATIC_NAME},
        {
            "started_at": hit_ratio["regression"]["deploy_at"],
            "change_at": f"{day.isoformat()}T{policies.STATIC_CHANGED}Z",
            "cookie_added": policies.AB_COOKIE,
        },
    )
    pages = hit_ratio["by_behavior"][DEFAULT.pattern]
    add(
        "cache.key-defeats-cache",
        {"behavior": DEFAULT.pattern, "cache_policy": "Managed-Amplify"},
        {"all_of": ["cookies", "query strings"], "hit_ratio": pages["hits"] / pages["cacheable_requests"]},
    )
    by_origin: dict[str, Counter[str]] = defaultdict(Counter)
    for r in reqs:
        category = fails.get(id(r))
        if category is None or not r.detailed.startswith("Origin"):
            continue
        b = r.behavior
        origin = b.target if not b.is_group else _GROUP_MEMBERS[b.target][1 if category == "eligible" else 0]
        by_origin[origin][r.detailed] += 1
    for origin, kinds in sorted(by_origin.items()):
        add(
            "origin.errors",
            {"origin": origin},
            {"failures": sum(kinds.values()), "by_kind": dict(sorted(kinds.items()))},
        )
    add("transport.origin-plaintext", {"origin": "web-secondary"}, {"protocol_policy": "http-only"})
    add("transport.origin-old-tls", {"origin": "media-secondary"}, {"origin_ssl_protocols": ["TLSv1.1", "TLSv1.2"]})
    add("transport.viewer-min-tls", {"certificate": configs.CERT}, {"minimum_protocol_version": "TLSv1.2_2019"})
    add(
        "origin-shield.placement",
        {"origin": "media-secondary"},
        {"shield_region": "us-east-1", "recommended": "eu-west-1", "origin_region": "eu-west-1"},
    )
    add("waf.capacity", {"web_acl": MAIN.web_acl_name}, {"capacity": configs.MAIN_ACL_CAPACITY})
    blocked = [
        r
        for r, v in zip(reqs, verdicts, strict=True)
        if v.action == "BLOCK" and any(m.rule_id == "SizeRestrictions_QUERYSTRING" and m.terminating for m in v.matches)
    ]
    add(
        "waf.fp-blocking",
        {"web_acl": MAIN.web_acl_name, "rule": f"AWS-{waf.CRS}/SizeRestrictions_QUERYSTRING"},
        {"matches": len(blocked), "distinct_ips": len({r.client.ip for r in blocked})},
    )
    for kind in EDGE_KINDS:
        made = [r for r in reqs if r.detailed == kind and r.status >= 400]
        if made:
            add("edge.own-errors", {"kind": kind}, {"requests": len(made), "by_status": _statuses(made)})

    draft = [
        ("config.write-methods-on-group", {"behavior": "/api/*", "origin_group": "api-group"}),
        ("config.unknown-target", {"behavior": policies.DRAFT_BEHAVIOR}),
        ("config.invalid-failover-code", {"origin_group": "api-group"}),
        ("transport.cert-region", {"certificate": policies.DRAFT_CERT}),
        ("waf.acl-scope", {"web_acl": policies.DRAFT_ACL}),
    ]
    return {
        "definitions": DEFINITIONS,
        "distribution_id": dist,
        "findings": found,
        "draft": {
            "distribution_id": DRAFT_ID,
            "findings": [
                {"id": fid, "subject": {"distribution_id": DRAFT_ID, **subject}, "severity": "error"}
                for fid, subject in draft
            ],
        },
        "twin": {
            "distribution_id": TWIN.distribution_id,
            "web_acl": TWIN.web_acl_name,
            "requests": len(twin.requests),
            "files": {k: len(v) for k, v in twin_files.items()},
            "findings": [],
        },
    }
