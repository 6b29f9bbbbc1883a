"""Check 1, configs CloudFront would refuse, and :func:`refusals`, the rules behind it.

Configs handed to edgelake may come from infrastructure code before they are applied; a config
CloudFront refuses cannot be what serves the logs, so it is reported as such rather than analysed as
if it ran. :func:`refusals` lists every reason CloudFront (or WAF) would reject a DistributionConfig
document that this module knows of; the tests run it over every config a fix suggests.
"""

from __future__ import annotations

import re
from typing import Any

from pipeline.doctor import fixes
from pipeline.doctor.context import WRITES, Context, Distribution
from pipeline.doctor.model import CheckResult, Fact, Finding

# FORMATS.md f.1: the status codes an origin group's failover criteria may hold (429 added lately)
FAILOVER_CODES = frozenset({400, 403, 404, 416, 429, 500, 502, 503, 504})
GROUP_WRITE_ERROR = (
    "AllowedMethods cannot include POST, PUT, PATCH, or DELETE for a cached behavior associated with an origin group"
)
PLAYBOOK = "seed 000/001 (origin groups take only GET, HEAD, OPTIONS); Best practices"
_ARN_REGION = re.compile(r"^arn:aws[a-z-]*:[a-z0-9-]+:([a-z0-9-]*):")


def arn_region(arn: str | None) -> str | None:
    m = _ARN_REGION.match(arn or "")
    return m.group(1) if m else None


def _wrapped(node: Any, key: str) -> tuple[list[Any], None]:
    value = node.get(key) if isinstance(node, dict) else None
    if not isinstance(value, dict):
        return [], None
    return list(value.get("Items") or []), None


def _quantities(node: Any, path: str, out: list[str]) -> None:
    """Every ``{"Quantity": n, "Items": [...]}`` list must count its items (CloudFront checks it)."""
    if isinstance(node, dict):
        if isinstance(node.get("Quantity"), int) and not isinstance(node["Quantity"], bool):
            items = node.get("Items") or []
            if node["Quantity"] != len(items):
                out.append(f"{path or '/'}: Quantity is {node['Quantity']} but Items has {len(items)}")
        for key, value in node.items():
            _quantities(value, f"{path}/{key}", out)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            _quantities(value, f"{path}/{i}", out)


def refusals(config: dict[str, Any]) -> list[str]:
    """Why CloudFront would refuse ``config`` (a DistributionConfig), as far as edgelake knows; [] if none."""
    out: list[str] = []
    _quantities(config, "", out)
    origins, _ = _wrapped(config, "Origins")
    origin_ids = [o.get("Id") for o in origins]
    groups, _ = _wrapped(config, "OriginGroups")
    group_ids = {g.get("Id") for g in groups}
    for g in groups:
        members, _ = _wrapped(g, "Members")
        if len(members) != 2:
            out.append(f"origin group {g.get('Id')} has {len(members)} members, not 2")
        for m in members:
            if m.get("OriginId") not in origin_ids:
                out.append(f"origin group {g.get('Id')} names origin {m.get('OriginId')}, which does not exist")
        codes, _ = _wrapped(g.get("FailoverCriteria") or {}, "StatusCodes")
        for code in codes:
            if code not in FAILOVER_CODES:
                out.append(f"origin group {g.get('Id')} fails over on {code}, which CloudFront does not offer")
    behaviors, _ = _wrapped(config, "CacheBehaviors")
    patterns = [b.get("PathPattern") for b in behaviors]
    for p in sorted({p for p in patterns if patterns.count(p) > 1}):
        out.append(f"path pattern {p} is used by more than one behavior")
    for b in [*behaviors, config.get("DefaultCacheBehavior") or {}]:
        where = b.get("PathPattern", "*")
        target = b.get("TargetOriginId")
        if target not in origin_ids and target not in group_ids:
            out.append(f"behavior {where}: TargetOriginId {target} is neither an origin nor an origin group")
        methods, _ = _wrapped(b, "AllowedMethods")
        if target in group_ids and set(methods) & set(WRITES):
            out.append(f"behavior {where}: {GROUP_WRITE_ERROR}")
    cert = config.get("ViewerCertificate") or {}
    cert_arn = cert.get("ACMCertificateArn")
    if cert_arn and arn_region(cert_arn) != "us-east-1":
        out.append(f"viewer certificate {cert_arn} is not in us-east-1")
    acl = config.get("WebACLId") or ""
    if acl.startswith("arn:") and (":global/" not in acl or arn_region(acl) != "us-east-1"):
        out.append(f"web ACL {acl} is not a CLOUDFRONT-scope web ACL in us-east-1")
    return out


def check(ctx: Context, result: CheckResult) -> list[Finding]:
    if not ctx.distributions:
        result.status = "not_checked"
        result.needs.append("ingest `aws cloudfront get-distribution --id <ID>` output for each distribution")
        return []
    findings = []
    for dist in ctx.distributions.values():
        findings += _write_methods(ctx, dist) + _unknown_targets(ctx, dist) + _bad_codes(ctx, dist)
    return findings


def _refused(dist: Distribution) -> Fact:
    return Fact("refused_by", "CloudFront would refuse this config", True, "config")


def _write_methods(ctx: Context, dist: Distribution) -> list[Finding]:
    out = []
    for b in dist.behaviors:
        if not (b.target_is_group and b.allows_writes):
            continue
        group = dist.groups.get(b.target, {})
        primary = group.get("primary")
        patch = [fixes.replace(f"{b.pointer}/TargetOriginId", b.target, primary)] if primary else []
        requests = ctx.requests_on(dist.id, [b.path_pattern])
        out.append(
            Finding(
                id="config.write-methods-on-group",
                check="config.undeployable",
                severity="error",
                playbook=PLAYBOOK,
                subject={"distribution_id": dist.id, "behavior": b.path_pattern, "origin_group": b.target},
                summary=(
                    f"CloudFront would refuse this config: behavior {b.path_pattern} allows "
                    f"{', '.join(m for m in b.allowed_methods if m in WRITES)} and targets origin group {b.target} "
                    f"(API error: {GROUP_WRITE_ERROR}); it cannot be what is deployed, so it is not analysed as if "
                    "it ran."
                ),
                facts=[
                    _refused(dist),
                    Fact("allowed_methods", "allowed methods", b.allowed_methods, "config"),
                    Fact("origin_group", "target origin group", b.target, "config"),
                    Fact("requests", "requests the logs show on this behavior", requests, "logs"),
                ],
                fix=fixes.distribution_fix(
                    dist,
                    f"Route {b.path_pattern} to the group's primary origin {primary}: writes never fail over "
                    "anyway, and a single-origin behavior may allow them.",
                    patch,
                    [
                        f"To keep failover for reads, add GET/HEAD/OPTIONS-only behaviors for the read paths "
                        f"(more specific patterns, placed before {b.path_pattern}) aimed at {b.target}.",
                    ],
                ),
                requests=requests,
            )
        )
    return out


def _unknown_targets(ctx: Context, dist: Distribution) -> list[Finding]:
    out = []
    known = sorted([*dist.origins, *dist.groups])
    for b in dist.behaviors:
        if b.target in dist.origins or b.target in dist.groups:
            continue
        out.append(
            Finding(
                id="config.unknown-target",
                check="config.undeployable",
                severity="error",
                playbook=PLAYBOOK,
                subject={"distribution_id": dist.id, "behavior": b.path_pattern},
                summary=(
                    f"CloudFront would refuse this config: behavior {b.path_pattern} targets {b.target}, which is "
                    "neither an origin nor an origin group of the distribution."
                ),
                facts=[
                    _refused(dist),
                    Fact("target", "TargetOriginId", b.target, "config"),
                    Fact("known_targets", "origins and origin groups it could name", known, "config"),
                ],
                fix=fixes.distribution_fix(
                    dist,
                    f"Point {b.path_pattern}'s TargetOriginId at one of: {', '.join(known)} (which one is your call).",
                    [],
                    [],
                ),
            )
        )
    return out


def _bad_codes(ctx: Context, dist: Distribution) -> list[Finding]:
    out = []
    for gid, g in dist.groups.items():
        bad = [c for c in g["codes"] if c not in FAILOVER_CODES]
        if not bad:
            continue
        patch: list[dict[str, Any]] = []
        codes_node = ((dist.document or {}).get("OriginGroups") or {}).get("Items") or [{}]
        node = next((x for x in codes_node if x.get("Id") == gid), None)
        if node is not None and g["pointer"]:
            current = node["FailoverCriteria"]["StatusCodes"]
            keep = [c for c in current["Items"] if c in FAILOVER_CODES]
            pointer = f"{g['pointer']}/FailoverCriteria/StatusCodes"
            patch = [fixes.replace(pointer, current, {"Quantity": len(keep), "Items": keep})]
        out.append(
            Finding(
                id="config.invalid-failover-code",
                check="config.undeployable",
                severity="error",
                playbook=PLAYBOOK,
                subject={"distribution_id": dist.id, "origin_group": gid},
                summary=(
                    f"CloudFront would refuse this config: origin group {gid} fails over on "
                    f"{', '.join(map(str, bad))}; the failover criteria take only "
                    f"{', '.join(map(str, sorted(FAILOVER_CODES)))}."
                ),
                facts=[
                    _refused(dist),
                    Fact("failover_status_codes", "failover criteria", g["codes"], "config"),
                    Fact("not_offered", "codes CloudFront does not offer", bad, "config"),
                ],
                fix=fixes.distribution_fix(dist, f"Drop {', '.join(map(str, bad))} from {gid}'s criteria.", patch, []),
            )
        )
    return out
