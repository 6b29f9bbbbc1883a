"""Checks 5 and 12: edge code that can hide origin failures, and errors CloudFront made itself.

An origin-response Lambda@Edge sees the origin's answer before CloudFront caches or fails over on it;
seed 002's example rewrites every 4xx/5xx into a 200 with a fixed body, which takes the failures out
of the logs and out of the failover analyses. The logs can only hint at it (many 200s with one small
constant body on that behavior: ``doctor-constant-bodies``); CloudFront Functions have no
origin-response event. The edge's own errors (quotas, capacity, failing edge code) come from
``doctor-edge-errors``, so that nobody chases the origin for them.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from pipeline.doctor import fixes
from pipeline.doctor.context import Context, dist_name
from pipeline.doctor.model import CheckResult, Fact, Finding, Fix

PLAYBOOK_HIDE = "seed 002: an origin-response trigger rewriting 4xx/5xx to 200 hides failures from failover"
PLAYBOOK_EDGE = "Observability: errors the edge made itself are not origin failures"
ORIGIN_RESPONSE = "origin-response:lambda"
_WHAT_TO_DO = {
    "LimitExceeded": "a CloudFront quota was exceeded: see Service Quotas (CloudFront) and request an increase",
    "CapacityExceeded": "the edge location lacked capacity (503): transient; open an AWS support case if it recurs",
    "LambdaExecutionError": "the Lambda@Edge function failed or timed out: read its CloudWatch Logs in the Region "
    "of the edge location (log group /aws/lambda/us-east-1.<function name>)",
    "LambdaValidationError": "the Lambda@Edge function returned an invalid response: read its CloudWatch Logs",
    "LambdaLimitExceededError": "Lambda@Edge hit a Lambda quota (concurrency): request an increase in that Region",
    "FunctionExecutionError": "the CloudFront Function failed: see its metrics and logs (us-east-1)",
    "FunctionThrottledError": "the CloudFront Function exceeded its compute limit",
    "FunctionValidationError": "the CloudFront Function returned an invalid object",
}


def hides_failures(ctx: Context, result: CheckResult) -> list[Finding]:
    if not ctx.distributions:
        result.status = "not_checked"
        result.needs.append("ingest `aws cloudfront get-distribution --id <ID>` output (edge code per behavior)")
        return []
    failures, _ = ctx.query("doctor-failures")
    bodies, bodies_cmd = ctx.query("doctor-constant-bodies")
    findings = []
    for dist in ctx.distributions.values():
        for b in dist.behaviors:
            if ORIGIN_RESPONSE not in b.function_events:
                continue
            failed = sum(
                int(r["failures"])
                for r in failures
                if r["distribution_id"] == dist.id and r["behavior"] == b.path_pattern
            )
            if not b.target_is_group and not failed:
                continue
            assoc = _associations(b.doc)
            body = next(
                (r for r in bodies if r["distribution_id"] == dist.id and r["behavior"] == b.path_pattern), None
            )
            facts = [
                Fact(
                    "functions",
                    "origin-response Lambda@Edge functions",
                    [a["LambdaFunctionARN"] for _, a in assoc] or ["(not in the ingested document)"],
                    "config",
                ),
                Fact("target", "target", b.target, "config"),
                Fact("target_is_group", "target is an origin group", b.target_is_group, "config"),
                Fact("failures", "origin failures still logged on the behavior", failed, "logs"),
            ]
            if body is not None:
                facts += [
                    Fact("constant_body_bytes", "most frequent small 200 body (bytes)", body["content_length"], "logs"),
                    Fact("constant_body_responses", "200s with exactly that body size", body["responses"], "logs"),
                    Fact("constant_body_share", "their share of the behavior's 200s", body["share"], "logs"),
                ]
            requests = ctx.requests_on(dist.id, [b.path_pattern])
            f = Finding(
                id="edge-code.hides-failures",
                check="edge-code.hides-failures",
                severity="warn",
                playbook=PLAYBOOK_HIDE,
                subject={"distribution_id": dist.id, "behavior": b.path_pattern, "origin_group": b.target}
                if b.target_is_group
                else {"distribution_id": dist.id, "behavior": b.path_pattern, "origin": b.target},
                summary=(
                    f"Behavior {b.path_pattern} runs a Lambda@Edge function on origin responses"
                    + (f" behind origin group {b.target}" if b.target_is_group else f" and {failed} requests failed")
                    + ": if it rewrites errors (as seed 002's example turns every 4xx/5xx into 200), failures vanish "
                    "from the logs and from failover."
                    + (
                        f" The logs show {body['responses']} 200s with one {body['content_length']}-byte body "
                        f"({body['share']:.0%} of its 200s)."
                        if body is not None and body["responses"] >= 2
                        else ""
                    )
                ),
                facts=facts,
                queries=[bodies_cmd],
                requests=requests,
            )
            if body is not None:
                f.first_seen, f.last_seen, f.samples = body["first_seen"], body["last_seen"], body["samples"]
            patch: list[dict[str, Any]] = []
            if assoc and b.doc is not None:
                current = b.doc["LambdaFunctionAssociations"]
                kept = [a for a in current["Items"] if a.get("EventType") != "origin-response"]
                wrapped = {"Quantity": len(kept), "Items": kept} if kept else {"Quantity": 0}
                patch = [fixes.replace(f"{b.pointer}/LambdaFunctionAssociations", current, wrapped)]
            f.fix = fixes.distribution_fix(
                dist,
                f"Take the origin-response function off {b.path_pattern}, or make it pass 5xx (and the failover "
                "criteria's 4xx) through unchanged.",
                patch,
                [
                    "CloudFront Functions have no origin-response event: moving the code there is not a way out.",
                    "If the function only normalises error bodies, keep it and let the status through.",
                ],
            )
            findings.append(f)
    return findings


def _associations(doc: dict[str, Any] | None) -> list[tuple[int, dict[str, Any]]]:
    items = ((doc or {}).get("LambdaFunctionAssociations") or {}).get("Items") or []
    return [(i, a) for i, a in enumerate(items) if a.get("EventType") == "origin-response"]


def own_errors(ctx: Context, result: CheckResult) -> list[Finding]:
    rows, cmd = ctx.query("doctor-edge-errors")
    traffic = ctx.traffic()
    if not traffic:
        result.status = "not_checked"
        result.needs.append("ingest CloudFront standard or real-time logs")
        return []
    grouped: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        grouped[(dist_name(r["distribution_id"]), r["kind"])].append(r)
    findings = []
    for (dist, kind), mine in sorted(grouped.items()):
        total = sum(int(r["requests"]) for r in mine)
        statuses: dict[str, int] = defaultdict(int)
        for r in mine:
            for s in r["by_status"]:
                statuses[str(s["status"])] += int(s["requests"])
        peak = max(mine, key=lambda r: (r["peak_requests_per_minute"], -r["peak_minute"].timestamp()))
        behaviors = {r["behavior"]: int(r["requests"]) for r in mine}
        f = Finding(
            id="edge.own-errors",
            check="edge.own-errors",
            severity="warn" if total >= 50 else "info",
            playbook=PLAYBOOK_EDGE,
            subject={"distribution_id": dist, "kind": kind},
            summary=(
                f"CloudFront answered {total} request{'s' if total != 1 else ''} with {kind} itself"
                + (f" (on {', '.join(sorted(behaviors))})" if set(behaviors) != {"unknown"} else "")
                + ": not an origin failure, do not chase the origin for it."
            ),
            facts=[
                Fact("requests", f"requests answered with {kind}", total, "logs"),
                Fact("by_status", "by status", dict(sorted(statuses.items())), "logs"),
                Fact("by_behavior", "by behavior", behaviors, "logs"),
                Fact("peak_minute", "busiest minute", peak["peak_minute"], "logs"),
                Fact("peak_requests_per_minute", "requests in that minute", peak["peak_requests_per_minute"], "logs"),
            ],
            first_seen=min(r["first_seen"] for r in mine),
            last_seen=max(r["last_seen"] for r in mine),
            samples=sorted((s for r in mine for s in r["samples"]), key=lambda s: (s["timestamp"], s["request_id"]))[
                :3
            ],
            queries=[cmd],
            requests=total,
            fix=Fix(_WHAT_TO_DO.get(kind, "an error CloudFront generated at the edge")),
        )
        findings.append(f)
    return findings
