"""Checks 8 and 10: origin errors by kind with their onset, and Origin Shield placement.

Origin errors come from ``doctor-origin-errors`` (x-edge-detailed-result-type values starting with
Origin, per target and the origin inferred to have answered). Logs from before 2019-12-12 carry no
detailed result type: the check says it cannot look at them rather than reporting nothing. Origin
Shield belongs in the origin's own Region where CloudFront offers it there (the guide's table in
:mod:`pipeline.doctor.managed`); the origin's Region is read from an AWS endpoint name only.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

from pipeline.doctor import fixes
from pipeline.doctor.context import Context, dist_name
from pipeline.doctor.managed import recommended_shield_region
from pipeline.doctor.model import CheckResult, Fact, Finding, Fix

PLAYBOOK_ERRORS = "playbook rows 11 and 15 (origin TLS, protocol and reachability); Observability"
PLAYBOOK_SHIELD = "playbook row 13: Origin Shield added latency, little offload (Shield Region far from the origin)"
SERIOUS = 10
_MEANING = {
    "OriginDnsError": "CloudFront could not resolve the origin's domain name: check its DNS records",
    "OriginConnectError": "CloudFront could not connect (refused, timed out, TLS handshake): check listeners, "
    "security groups, the origin's certificate and OriginSslProtocols, ConnectionTimeout and ConnectionAttempts",
    "OriginCommError": "the connection timed out or broke while reading (OriginReadTimeout): a slow or "
    "overloaded origin",
    "OriginReadError": "CloudFront could not read the origin's response",
    "OriginError": "the origin answered with an error status",
    "OriginHeaderTooBigError": "the origin's response headers were too large",
    "OriginInvalidResponseError": "the origin's response was not valid HTTP",
    "OriginZeroSizeObjectError": "the origin sent an empty object",
    "OriginContentRangeLengthError": "the origin's Content-Length did not match its Content-Range",
    "OriginWriteError": "CloudFront could not send the request (body) to the origin",
}
# Region inside an AWS endpoint name: ELB, S3 (dot and legacy dash forms), API Gateway, Lambda URLs,
# MediaPackage/MediaStore and the generic <service>.<region>.amazonaws.com
_REGION = re.compile(
    r"(?:\.|^)(?:s3[.-]|execute-api\.|lambda-url\.)?"
    r"((?:us|eu|ap|sa|ca|me|af|il|mx)-(?:north|south|east|west|central|northeast|southeast|southwest|northwest)-\d)"
    r"\.(?:elb\.)?(?:amazonaws\.com|on\.aws)$"
)


def origin_region(domain: str | None) -> str | None:
    """The AWS Region in an endpoint name such as ``x.us-east-1.elb.amazonaws.com``; None otherwise."""
    if not domain:
        return None
    m = _REGION.search(domain.lower())
    return m.group(1) if m else None


def errors_by_kind(ctx: Context, result: CheckResult) -> list[Finding]:
    traffic = ctx.traffic()
    if not traffic:
        result.status = "not_checked"
        result.needs.append("ingest CloudFront standard or real-time logs")
        return []
    per_dist: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for (dist, _), t in traffic.items():
        per_dist[dist][0] += int(t["requests"])
        per_dist[dist][1] += int(t["with_detailed_type"])
    blind = sorted(d for d, (_, detailed) in per_dist.items() if detailed == 0)
    partial = sorted(d for d, (n, detailed) in per_dist.items() if 0 < detailed < n)
    if blind and len(blind) == len(per_dist):
        result.status = "not_checked"
        result.needs.append(
            "logs with x-edge-detailed-result-type: standard logs from 2019-12-12 on (33 fields), v2 or real-time logs"
        )
        return []
    for d in blind:
        result.notes.append(f"{d}: not checkable, its logs have no x-edge-detailed-result-type (before 2019-12-12)")
    for d in partial:
        result.notes.append(f"{d}: some of its logs have no x-edge-detailed-result-type; those rows are not checked")
    rows, cmd = ctx.query("doctor-origin-errors")
    grouped: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        grouped[(dist_name(r["distribution_id"]), r["origin"] or r["target"] or "unknown")].append(r)
    findings = []
    for (dist, origin), mine in sorted(grouped.items()):
        kinds: dict[str, dict[str, Any]] = {}
        for r in mine:
            k = kinds.setdefault(
                r["detailed_result_type"],
                {"failures": 0, "onset": r["first_seen"], "last_seen": r["last_seen"], "by_status": defaultdict(int)},
            )
            k["failures"] += int(r["failures"])
            k["onset"] = min(k["onset"], r["first_seen"])
            k["last_seen"] = max(k["last_seen"], r["last_seen"])
            for s in r["by_status"]:
                k["by_status"][str(s["status"])] += int(s["failures"])
        total = sum(k["failures"] for k in kinds.values())
        targets = sorted({r["target"] for r in mine if r["target"]})
        roles = sorted({r["answered_by"] for r in mine})
        first = min(kinds.items(), key=lambda kv: kv[1]["onset"])
        f = Finding(
            id="origin.errors",
            check="origin.errors-by-kind",
            severity="warn" if max(k["failures"] for k in kinds.values()) >= SERIOUS else "info",
            playbook=PLAYBOOK_ERRORS,
            subject={"distribution_id": dist, "origin": origin},
            summary=(
                f"Origin {origin} failed {total} request{'s' if total != 1 else ''}: "
                + ", ".join(
                    f"{n} {kind} (from {k['onset']:%H:%M:%S}Z)"
                    for kind, k in sorted(kinds.items())
                    for n in [k["failures"]]
                )
                + f"; first {first[0]}."
            ),
            facts=[
                Fact("failures", "origin failures", total, "logs"),
                Fact(
                    "by_kind",
                    "failures per x-edge-detailed-result-type",
                    {kind: k["failures"] for kind, k in sorted(kinds.items())},
                    "logs",
                ),
                Fact(
                    "onset",
                    "first failure of each kind",
                    {kind: k["onset"] for kind, k in sorted(kinds.items())},
                    "logs",
                ),
                Fact(
                    "by_status",
                    "failures by status",
                    {kind: dict(sorted(k["by_status"].items())) for kind, k in sorted(kinds.items())},
                    "logs",
                ),
                Fact("targets", "behavior targets the failures went to", targets, "config")
                if roles != ["unknown"]
                else Fact("targets", "Host header (no distribution config ingested)", targets, "logs"),
                Fact(
                    "origin",
                    "origin inferred to have answered (" + ", ".join(roles) + "; no log field names it)",
                    origin,
                    "inferred",
                ),
            ],
            first_seen=min(k["onset"] for k in kinds.values()),
            last_seen=max(k["last_seen"] for k in kinds.values()),
            samples=sorted((s for r in mine for s in r["samples"]), key=lambda s: (s["timestamp"], s["request_id"]))[
                :3
            ],
            queries=[cmd],
            requests=total,
            fix=Fix(
                "; ".join(f"{kind}: {_MEANING.get(kind, 'an origin-side error')}" for kind in sorted(kinds)),
                None,
            ),
        )
        findings.append(f)
    return findings


def shield_placement(ctx: Context, result: CheckResult) -> list[Finding]:
    if not ctx.distributions:
        result.status = "not_checked"
        result.needs.append("ingest `aws cloudfront get-distribution --id <ID>` output (Origin Shield per origin)")
        return []
    findings, checked, unreadable = [], 0, []
    for dist in ctx.distributions.values():
        for oid, origin in dist.origins.items():
            shield = origin.get("OriginShield") or {}
            if not shield.get("Enabled"):
                continue
            region = origin_region(origin.get("DomainName"))
            want = recommended_shield_region(region) if region else None
            if want is None:
                unreadable.append(f"{dist.id} {oid} ({origin.get('DomainName')})")
                continue
            checked += 1
            have = shield.get("OriginShieldRegion")
            if have == want:
                continue
            pointer = f"{dist.origin_pointers[oid]}/OriginShield/OriginShieldRegion"
            behaviors = [b.path_pattern for b in dist.behaviors if oid in dist.origins_behind(b)]
            findings.append(
                Finding(
                    id="origin-shield.placement",
                    check="origin-shield.placement",
                    severity="warn",
                    playbook=PLAYBOOK_SHIELD,
                    subject={"distribution_id": dist.id, "origin": oid},
                    summary=(
                        f"Origin {oid} is in {region} but its Origin Shield is in {have}: every miss crosses "
                        f"between Regions twice; AWS recommends {want} for an origin in {region}."
                    ),
                    facts=[
                        Fact("origin_region", "origin's Region (from its endpoint name)", region, "inferred"),
                        Fact("shield_region", "OriginShieldRegion", have, "config"),
                        Fact("recommended", "recommended Origin Shield Region", want, "config"),
                        Fact("behaviors", "behaviors reaching it", behaviors, "config"),
                    ],
                    requests=ctx.requests_on(dist.id, behaviors),
                    fix=fixes.distribution_fix(
                        dist,
                        f"Move {oid}'s Origin Shield to {want}.",
                        [fixes.replace(pointer, have, want)],
                        ["Or disable it if the hit ratio does not gain from it (playbook row 13)."],
                    ),
                )
            )
    for u in unreadable:
        result.notes.append(f"not checkable: {u}: the origin's Region cannot be read from its name")
    if not checked and unreadable:
        result.status = "not_checked"
        result.needs.append(
            "origins named by an AWS endpoint (…elb.amazonaws.com, s3.<region>.amazonaws.com, execute-api.<region>…)"
        )
    return findings
