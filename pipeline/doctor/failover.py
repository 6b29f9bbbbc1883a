"""Checks 2-4: failover that is silently off, the status-code gap, and writes no edge mechanism retries.

Failures are the failover analysis's (the ``failures`` macro, through ``doctor-failures``); the target
of each is inferred from the config, as no log field says which origin answered. The fixes follow the
seed's playbook: point the behavior at the group (row 1); for the 429/4xx gap, layer Route 53 health
checks that see the overload and a GET-only read-replica group, and add the code to the criteria where
CloudFront accepts it (row 2); for writes, Route 53 or the application (seeds 000, 001).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from pipeline.doctor import fixes
from pipeline.doctor.context import Context, Distribution
from pipeline.doctor.deploy import FAILOVER_CODES
from pipeline.doctor.model import CheckResult, Fact, Finding, Fix

ROW1 = "playbook row 1: origin returns 5xx but no failover happens"
ROW2 = "playbook row 2: 429/4xx from the primary, secondary never used (the Streamhaul incident)"
WRITES = "seeds 000/001: POST/PUT/PATCH/DELETE never fail over; Best practices (layer Route 53 failover)"
SERIOUS = 10  # failures in the window from which a gap is an error rather than a warning


def _rows(ctx: Context) -> tuple[list[dict[str, Any]], str]:
    return ctx.query("doctor-failures")


def _status_counts(rows: list[dict[str, Any]], keep: Any = None) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for r in rows:
        for s in r["by_status"]:
            if keep is None or keep(s["status"]):
                out[str(s["status"])] += int(s["failures"])
    return dict(sorted(out.items()))


def _seen(f: Finding, rows: list[dict[str, Any]]) -> None:
    if rows:
        f.first_seen = min(r["first_seen"] for r in rows)
        f.last_seen = max(r["last_seen"] for r in rows)
        samples = sorted((s for r in rows for s in r["samples"]), key=lambda s: (s["timestamp"], s["request_id"]))
        f.samples = samples[:3]


def _need_configs(ctx: Context, result: CheckResult) -> bool:
    if ctx.distributions:
        return True
    result.status = "not_checked"
    result.needs.append("ingest `aws cloudfront get-distribution --id <ID>` output (which behavior targets what)")
    return False


def silently_off(ctx: Context, result: CheckResult) -> list[Finding]:
    """Check 2: a read-only behavior aimed at one origin of a group instead of the group."""
    if not _need_configs(ctx, result):
        return []
    rows, cmd = _rows(ctx)
    findings = []
    for dist in ctx.distributions.values():
        for b in dist.behaviors:
            if b.allows_writes or b.target_is_group or b.target not in dist.origins:
                continue
            gid = dist.group_of(b.target)
            if gid is None:
                continue
            group = dist.groups[gid]
            mine = [r for r in rows if r["distribution_id"] == dist.id and r["behavior"] == b.path_pattern]
            failed = sum(int(r["failures"]) for r in mine)
            retried = _status_counts(mine, lambda s, codes=group["codes"]: s in codes)
            requests = ctx.requests_on(dist.id, [b.path_pattern])
            f = Finding(
                id="failover.silently-off",
                check="failover.silently-off",
                severity="error" if failed else "warn",
                playbook=ROW1,
                subject={
                    "distribution_id": dist.id,
                    "behavior": b.path_pattern,
                    "origin": b.target,
                    "origin_group": gid,
                },
                summary=(
                    f"Behavior {b.path_pattern} takes only {'/'.join(b.allowed_methods)} yet targets origin "
                    f"{b.target}, a member of origin group {gid}: failover is off for it"
                    + (f", and {failed} of its requests failed in the window." if failed else ".")
                ),
                facts=[
                    Fact("target", "TargetOriginId", b.target, "config"),
                    Fact("origin_group", "group it belongs to", gid, "config"),
                    Fact("failover_status_codes", "the group's failover criteria", group["codes"], "config"),
                    Fact("requests", "requests on the behavior", requests, "logs"),
                    Fact("failures", "origin failures on the behavior", failed, "logs"),
                    Fact("by_status", "failures by status", _status_counts(mine), "logs"),
                    Fact(
                        "would_fail_over",
                        f"failures with a status in {gid}'s criteria: CloudFront would have retried them on "
                        f"{group['secondary'] if group['primary'] == b.target else group['primary']}",
                        sum(retried.values()),
                        "inferred",
                    ),
                ],
                queries=[cmd],
                requests=requests,
                fix=fixes.distribution_fix(
                    dist,
                    f"Point {b.path_pattern}'s TargetOriginId at the origin group {gid}.",
                    [fixes.replace(f"{b.pointer}/TargetOriginId", b.target, gid)],
                    ["Test it in a game day: stop the primary and watch the secondary answer."],
                ),
            )
            _seen(f, mine)
            findings.append(f)
    return findings


def status_gap(ctx: Context, result: CheckResult) -> list[Finding]:
    """Check 3: requests to an origin group failing with codes outside its failover criteria."""
    if not _need_configs(ctx, result):
        return []
    rows, cmd = _rows(ctx)
    # the incident report's episode settings: a storm of a few failures a minute is one episode
    episodes, episodes_cmd = ctx.query("failover-episodes", {"gap_s": 300, "min_failures": 3})
    findings = []
    for dist in ctx.distributions.values():
        gaps = [r for r in rows if r["distribution_id"] == dist.id and r["category"] == "gap_status"]
        by_behavior: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
        for r in gaps:
            by_behavior[(r["behavior"], r["target"])].append(r)
        for (pattern, gid), mine in sorted(by_behavior.items()):
            findings.append(_gap(ctx, dist, pattern, gid, mine, episodes, [cmd, episodes_cmd]))
    if not any(ctx.has_logs(d) for d in ctx.distributions):
        result.status = "not_checked"
        result.needs.append("ingest CloudFront standard or real-time logs of the configured distributions")
    return findings


def _gap(
    ctx: Context,
    dist: Distribution,
    pattern: str,
    gid: str,
    rows: list[dict[str, Any]],
    episodes: list[dict[str, Any]],
    cmds: list[str],
) -> Finding:
    group = dist.groups[gid]
    statuses = _status_counts(rows)
    failed = sum(statuses.values())
    behavior_requests = int(rows[0]["behavior_requests"])
    mine = [
        {k: e[k] for k in ("started_at", "ended_at", "failures", "peak_failures_per_minute", "peak_failure_rate")}
        for e in episodes
        if e["distribution_id"] == dist.id and e["target"] == gid and e["dominant_category"] == "gap_status"
    ]
    only_429 = set(statuses) == {"429"}
    addable = sorted(int(s) for s in statuses if int(s) in FAILOVER_CODES)
    peak = max(rows, key=lambda r: (r["peak_failures_per_minute"], r["peak_share"]))
    f = Finding(
        id="failover.gap-429" if only_429 else "failover.gap-status",
        check="failover.status-gap",
        severity="error" if failed >= SERIOUS else "warn",
        playbook=ROW2,
        subject={"distribution_id": dist.id, "behavior": pattern, "origin_group": gid, "origin": group["primary"]},
        summary=(
            f"{failed} requests to origin group {gid} (behavior {pattern}) failed with "
            f"{', '.join(statuses)}, outside its failover criteria: the primary {group['primary']} answered them "
            f"and the secondary {group['secondary']} was never tried."
        ),
        facts=[
            Fact("failures", "failures outside the criteria", failed, "logs"),
            Fact("by_status", "failures by status", statuses, "logs"),
            Fact("share", "share of the behavior's requests in the window", failed / behavior_requests, "logs"),
            Fact(
                "peak_failures_per_minute", "most such failures in one minute", peak["peak_failures_per_minute"], "logs"
            ),
            Fact("peak_share", "their share of the behavior's requests that minute", peak["peak_share"], "logs"),
            Fact("episodes", "failure episodes dominated by the gap (failover-episodes)", mine, "logs"),
            Fact("failover_status_codes", "the group's failover criteria", group["codes"], "config"),
            Fact("answered_by", "origin that answered (no log field names it)", group["primary"], "inferred"),
        ],
        queries=cmds,
        requests=failed,
    )
    _seen(f, rows)
    f.fix = _gap_fix(dist, gid, group, addable)
    return f


def _gap_fix(dist: Distribution, gid: str, group: dict[str, Any], addable: list[int]) -> Fix:
    notes = [
        "Layer the fixes (seed, Best practices): a Route 53 failover record whose health check probes a deep "
        "path that fails when the primary sheds load (429 or 503), so the whole Region is shed at DNS: "
        "aws route53 create-health-check --caller-reference <ref> --health-check-config "
        "Type=HTTPS,FullyQualifiedDomainName=<primary host>,ResourcePath=/healthz/deep,RequestInterval=10,"
        "FailureThreshold=2",
        "For read paths, add a GET/HEAD-only behavior aimed at an origin group of read replicas.",
        "429 in the failover criteria: the seed says origin groups do not fail over on 429; CloudFront's current "
        "origin failover page lists 429 among the codes a group can fail over on (FORMATS.md f.1). The patch "
        "adds it; CloudFront accepts it today. It replays the overloaded primary's requests on the secondary: "
        "that moves the load, it does not shed it.",
    ]
    if not addable or not group["pointer"] or dist.document is None:
        return fixes.distribution_fix(dist, f"Shed load at Route 53 and add a read-replica group for {gid}.", [], notes)
    node = next(g for g in dist.document["OriginGroups"]["Items"] if g.get("Id") == gid)
    current = node["FailoverCriteria"]["StatusCodes"]
    codes = sorted({*current.get("Items", []), *addable})
    pointer = f"{group['pointer']}/FailoverCriteria/StatusCodes"
    patch = [fixes.replace(pointer, current, {"Quantity": len(codes), "Items": codes})]
    return fixes.distribution_fix(
        dist,
        f"Add {', '.join(map(str, addable))} to {gid}'s failover criteria, behind a Route 53 health check that "
        "sheds the Region when the primary is overloaded.",
        patch,
        notes,
    )


def writes_unprotected(ctx: Context, result: CheckResult) -> list[Finding]:
    """Check 4: writes on single-origin behaviors failing: nothing at the edge retries them."""
    if not _need_configs(ctx, result):
        return []
    rows, cmd = _rows(ctx)
    findings = []
    for dist in ctx.distributions.values():
        by_behavior: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for r in rows:
            if r["distribution_id"] == dist.id and r["method_kind"] == "write" and r["category"] == "no_group":
                by_behavior[r["behavior"]].append(r)
        for pattern, mine in sorted(by_behavior.items()):
            statuses = _status_counts(mine)
            failed = sum(statuses.values())
            origin = mine[0]["target"]
            f = Finding(
                id="failover.writes-unprotected",
                check="failover.writes-unprotected",
                severity="error" if failed >= SERIOUS else "warn",
                playbook=WRITES,
                subject={"distribution_id": dist.id, "behavior": pattern, "origin": origin},
                summary=(
                    f"{failed} writes through {pattern} failed at origin {origin}; no CloudFront mechanism retries "
                    "a POST, PUT, PATCH or DELETE on another origin."
                ),
                facts=[
                    Fact("failures", "failed writes", failed, "logs"),
                    Fact("by_status", "failed writes by status", statuses, "logs"),
                    Fact("origin", "the single origin behind the behavior", origin, "inferred"),
                    Fact("behavior_requests", "requests on the behavior", int(mine[0]["behavior_requests"]), "logs"),
                ],
                queries=[cmd],
                requests=failed,
                fix=Fix(
                    "Fail writes over outside CloudFront: a Route 53 failover record (health-checked) for the API "
                    "host, or client retries with idempotency keys against a second Region.",
                    None,
                    notes=(
                        "Origin groups cannot help: CloudFront refuses write methods on a behavior aimed at a group, "
                        "and never retries them (seeds 000, 001).",
                        "aws route53 change-resource-record-sets --hosted-zone-id <zone> --change-batch "
                        "file://failover-records.json (PRIMARY and SECONDARY records with a HealthCheckId)",
                    ),
                ),
            )
            _seen(f, mine)
            findings.append(f)
    return findings
